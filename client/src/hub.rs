//! Hubs: which client and scope stack an event uses, per thread or per task.
//!
//! There is one main hub (bound to the client by `init`). Each thread lazily gets its own hub,
//! forked from the main hub's top scope; a hub without a client of its own uses the main hub's
//! client, so threads started before `init` still report. For async code, fork a hub with
//! [`Hub::new_from_top`] and bind it to a future with [`HubFutureExt::bind_hub`]: the hub is made
//! current on every poll, so `configure_scope`/`with_scope` and breadcrumbs stay with the task
//! across `.await`s, whichever worker thread polls it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::task::{Context, Poll};

use crate::client::Client;
use crate::protocol::Breadcrumb;
use crate::scope::Scope;

/// A client plus a stack of scopes.
pub struct Hub {
    client: RwLock<Option<Arc<Client>>>,
    stack: Mutex<Vec<Scope>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

static MAIN_HUB: OnceLock<Arc<Hub>> = OnceLock::new();
static GLOBAL_SCOPE: Mutex<Scope> = Mutex::new(Scope::empty());

thread_local! {
    static CURRENT: RefCell<Option<Arc<Hub>>> = const { RefCell::new(None) };
    static IS_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Marks the SDK's worker thread: events captured there (e.g. a panic in a `before_send` hook)
/// are ignored instead of feeding the queue from its own consumer.
pub(crate) fn mark_worker_thread() {
    let _ = IS_WORKER.try_with(|w| w.set(true));
}

pub(crate) fn is_worker_thread() -> bool {
    IS_WORKER.try_with(Cell::get).unwrap_or(false)
}

/// Makes `hub` the current thread's hub from now on.
pub(crate) fn set_current(hub: Arc<Hub>) {
    let _ = CURRENT.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            *c = Some(hub);
        }
    });
}

/// Runs `f` on the global scope, which applies to events from every thread and task.
pub fn configure_global_scope<R>(f: impl FnOnce(&mut Scope) -> R) -> R {
    let mut g = GLOBAL_SCOPE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f(&mut g)
}

pub(crate) fn global_scope_snapshot() -> Scope {
    GLOBAL_SCOPE
        .lock()
        .map(|g| g.clone())
        .unwrap_or_else(|p| p.into_inner().clone())
}

impl Hub {
    /// A hub with a client and a starting scope.
    pub fn new(client: Option<Arc<Client>>, scope: Scope) -> Arc<Hub> {
        Arc::new(Hub {
            client: RwLock::new(client),
            stack: Mutex::new(vec![scope]),
        })
    }

    /// A hub with `other`'s client and a copy of its top scope.
    pub fn new_from_top(other: &Hub) -> Arc<Hub> {
        let scope = other.with_top(|s| s.clone());
        let client = other.client.read().ok().and_then(|c| c.clone());
        Hub::new(client, scope)
    }

    /// The process-wide main hub.
    pub fn main() -> Arc<Hub> {
        MAIN_HUB
            .get_or_init(|| Hub::new(None, Scope::empty()))
            .clone()
    }

    /// The hub of the current thread or bound task.
    pub fn current() -> Arc<Hub> {
        Hub::with_current(|h| h.clone())
    }

    /// Runs `f` with the current hub without cloning its `Arc`.
    pub fn with_current<R>(f: impl FnOnce(&Arc<Hub>) -> R) -> R {
        let mut f = Some(f);
        let res = CURRENT.try_with(|c| {
            let Ok(mut slot) = c.try_borrow_mut() else {
                return None;
            };
            let hub = slot.get_or_insert_with(|| Hub::new_from_top(&Hub::main()));
            let hub = hub.clone();
            drop(slot);
            f.take().map(|f| f(&hub))
        });
        match res {
            Ok(Some(r)) => r,
            // Thread-local torn down (thread exit) or re-entered: fall back to the main hub.
            _ => match f.take() {
                Some(f) => f(&Hub::main()),
                None => unreachable_fallback(),
            },
        }
    }

    /// Like [`Hub::with_current`] without touching the `Arc` count, for callbacks that never
    /// run user code (they must not switch hubs).
    #[inline]
    pub(crate) fn with_current_internal<R>(f: impl FnOnce(&Hub) -> R) -> R {
        let mut f = Some(f);
        let fast = CURRENT.try_with(|c| {
            let slot = c.try_borrow().ok()?;
            let hub = slot.as_ref()?;
            f.take().map(|f| f(hub))
        });
        match (fast, f.take()) {
            (Ok(Some(r)), _) => r,
            (_, Some(f)) => Hub::with_current(|h| f(h)),
            (_, None) => unreachable_fallback(),
        }
    }

    /// Makes `hub` current while `f` runs (restored afterwards, also on panic).
    pub fn run<R>(hub: Arc<Hub>, f: impl FnOnce() -> R) -> R {
        struct Restore(Option<Arc<Hub>>);
        impl Drop for Restore {
            fn drop(&mut self) {
                let prev = self.0.take();
                let _ = CURRENT.try_with(|c| {
                    if let Ok(mut c) = c.try_borrow_mut() {
                        *c = prev;
                    }
                });
            }
        }
        let prev = CURRENT
            .try_with(|c| c.try_borrow_mut().ok().and_then(|mut c| c.replace(hub)))
            .ok()
            .flatten();
        let _restore = Restore(prev);
        f()
    }

    /// This hub's client, or the main hub's when it has none.
    pub fn client(&self) -> Option<Arc<Client>> {
        if let Some(c) = self.client.read().ok().and_then(|c| c.clone()) {
            return Some(c);
        }
        let main = MAIN_HUB.get()?;
        if std::ptr::eq(main.as_ref(), self) {
            return None;
        }
        main.client.read().ok().and_then(|c| c.clone())
    }

    /// Binds a client to this hub (`None` unbinds).
    pub fn bind_client(&self, client: Option<Arc<Client>>) {
        if let Ok(mut c) = self.client.write() {
            *c = client;
        }
    }

    pub(crate) fn with_top<R>(&self, f: impl FnOnce(&mut Scope) -> R) -> R {
        let mut stack = self
            .stack
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if stack.is_empty() {
            stack.push(Scope::empty());
        }
        let top = stack.len() - 1;
        f(&mut stack[top])
    }

    /// Runs `f` on the top scope.
    pub fn configure_scope<R>(&self, f: impl FnOnce(&mut Scope) -> R) -> R {
        self.with_top(f)
    }

    /// Pushes a copy of the top scope, lets `config` change it, runs `body`, pops it.
    pub fn with_scope<C, R>(&self, config: C, body: impl FnOnce() -> R) -> R
    where
        C: FnOnce(&mut Scope),
    {
        let depth = {
            let mut stack = self
                .stack
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut top = stack.last().cloned().unwrap_or_default();
            config(&mut top);
            stack.push(top);
            stack.len()
        };
        struct Pop<'a>(&'a Hub, usize);
        impl Drop for Pop<'_> {
            fn drop(&mut self) {
                let mut stack = self
                    .0
                    .stack
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                stack.truncate(self.1 - 1);
            }
        }
        let _pop = Pop(self, depth);
        body()
    }

    /// Adds a breadcrumb to the top scope.
    pub fn add_breadcrumb(&self, crumb: Breadcrumb) {
        let max = crate::client::max_breadcrumbs();
        self.with_top(|s| s.push_breadcrumb(crumb, max));
    }

    /// Flushes this hub's client.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        self.client().is_none_or(|c| c.flush(timeout))
    }
}

#[cold]
fn unreachable_fallback<R>() -> R {
    // `f` is only taken on the success path; reaching here means it was both taken and not
    // returned, which the code above cannot do.
    panic!("errata: hub callback lost")
}

/// A future that makes a hub current while it is polled. Created by [`HubFutureExt::bind_hub`].
pub struct BoundFuture<F> {
    hub: Arc<Hub>,
    // Boxed so polling needs no pin projection (and no `unsafe`).
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for BoundFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let hub = self.hub.clone();
        Hub::run(hub, || self.inner.as_mut().poll(cx))
    }
}

/// Binds a hub to a future.
pub trait HubFutureExt: Future + Sized {
    /// Makes `hub` current whenever the future is polled.
    fn bind_hub(self, hub: Arc<Hub>) -> BoundFuture<Self> {
        BoundFuture {
            hub,
            inner: Box::pin(self),
        }
    }

    /// Binds a fresh hub forked from the current one (its own scope and breadcrumbs).
    fn with_new_hub(self) -> BoundFuture<Self> {
        let hub = Hub::new_from_top(&Hub::current());
        self.bind_hub(hub)
    }
}

impl<F: Future> HubFutureExt for F {}
