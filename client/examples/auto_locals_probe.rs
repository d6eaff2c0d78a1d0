//! Panics three calls deep with variables of many kinds and no `locals!` anywhere: with the
//! `auto-locals` feature the event shows them all, read from the binary's debug info.
//!
//! `ERRATA_DSN=http://<key>@127.0.0.1:8000/<project> cargo run -p errata --features auto-locals --example auto_locals_probe`
//!
//! The end-to-end test (tests/it/client_auto_locals.rs) runs it built in debug, in release
//! with `debug = true`, and stripped, and reads the values back through the server's API.

use std::hint::black_box;

#[derive(Debug)]
#[expect(dead_code, reason = "read through debug info only")]
struct Address {
    city: String,
    zip: u32,
}

#[derive(Debug)]
#[expect(dead_code, reason = "read through debug info only")]
struct Customer {
    id: u64,
    name: &'static str,
    address: Address,
    scores: Vec<u32>,
    api_token: &'static str,
}

#[inline(never)]
fn charge(customer: &Customer, amount: f64, coupon: Option<String>) -> f64 {
    let password = String::from("hunter2");
    let attempts = black_box(3u8);
    let rate = black_box(0.75f32);
    let grade = black_box('A');
    let checks = black_box((true, -2i16));
    black_box((&password, &coupon, attempts, rate, grade, checks));
    if customer.scores.len() < 10 {
        panic!("card declined for customer {}", customer.id);
    }
    amount * f64::from(rate)
}

/// Builds an order for a customer and charges it; panics in `charge`.
#[inline(never)]
pub fn checkout(count: u32, label: &str) -> f64 {
    let order = format!("{label}-{count}");
    let quantities: Vec<u32> = (1..=count).collect();
    let customer = Customer {
        id: 42,
        name: "Ada",
        address: Address {
            city: "Zürich".to_owned(),
            zip: 8001,
        },
        scores: vec![7, 9],
        api_token: "t0k",
    };
    let total = black_box(-17i64);
    black_box((&order, &quantities, &customer, total));
    charge(&customer, 19.5, Some(order.clone()))
}

fn main() {
    let _guard = errata::init!(errata::ClientOptions::new());
    let result = checkout(black_box(3), black_box("order"));
    println!("{result}");
}
