// Checkout flow of the test app: validates the cart, then applies the coupon.
import { applyCoupon } from "./pricing.js";

export function startCheckout(cart) {
  const total = cart.items.reduce((sum, item) => sum + item.qty * 10, 0);
  return applyCoupon(total, cart.coupon);
}
