// Entry point of the second build: the same app after some other code.
import "./extra.js";
import "./main.js";
