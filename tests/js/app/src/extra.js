// Only in the second build: more code ahead of the app, so the minifier hands out other names.
const counters = {};
function bump(key) { counters[key] = (counters[key] || 0) + 1; return counters[key]; }
function twice(key) { bump(key); bump(key); return bump(key); }
function thrice(key) { twice(key); twice(key); return twice(key); }
window.errataExtra = { bump, twice, thrice, ready: thrice("start") + twice("x") + bump("y") };
