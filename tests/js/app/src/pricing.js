// Pricing rules of the test app.
export function applyCoupon(total, coupon) {
  if (!coupon || coupon.percent === undefined) {
    throw new TypeError(`coupon missing for total ${total}`);
  }
  return total * (1 - coupon.percent / 100);
}
