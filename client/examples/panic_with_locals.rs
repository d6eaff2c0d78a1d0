//! Panics in a function with registered locals; the event shows them on that frame.
//!
//! `ERRATA_DSN=http://<key>@127.0.0.1:8000/<project> cargo run -p errata --example panic_with_locals`
//!
//! The panic happens on the `main` thread, so the hook waits (up to the shutdown timeout) for
//! the event to be delivered before unwinding goes on; the process then exits with status 101.
//! Pass `second` as an argument to panic at a different site (a different issue).

#[derive(Debug)]
struct Cart {
    items: Vec<&'static str>,
    total_cents: u64,
}

#[inline(never)]
fn apply_discount(cart: &Cart, percent: u64) -> u64 {
    let session_token = "abc123"; // sent as [Filtered]
    errata::locals!(cart, percent, session_token);
    if percent > 100 {
        panic!("discount of {percent}% is more than the cart is worth");
    }
    cart.total_cents * (100 - percent) / 100 / cart.items.len().max(1) as u64
}

#[inline(never)]
fn refund(order_id: u64) {
    errata::locals!(order_id);
    panic!("refund of order {order_id} failed: payment provider unreachable");
}

fn main() {
    let _guard = errata::init!(errata::ClientOptions::new().debug(true));
    errata::add_breadcrumb(errata::breadcrumb("checkout", "cart loaded"));
    let user_id = 42u64;
    let cart = Cart {
        items: vec!["book", "pen"],
        total_cents: 2_499,
    };
    errata::locals!(user_id, cart);
    errata::configure_scope(|s| s.set_tag("example", "panic_with_locals"));
    if std::env::args().nth(1).as_deref() == Some("second") {
        refund(7);
    }
    let price = apply_discount(&cart, 120);
    println!("price: {price}");
}
