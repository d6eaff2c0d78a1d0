// Errata's crash-report dialog: the script `Sentry.showReportDialog()` loads from
// /api/embed/error-page/ (src/ingest/embed.rs) into the application's page. The server wraps
// it as `(function (config) { … })(CONFIG)`; `config` holds the POST URL, the event id, the
// user's name and e-mail when the SDK knows them, and the texts. Everything is built with DOM
// calls and textContent: nothing from the page or the user is parsed as HTML. Closing posts
// "__sentry_reportdialog_closed__" to the window, which the SDK's onClose listens for.
"use strict";
var doc = document;
var el = function (tag, style, text) {
  var e = doc.createElement(tag);
  if (style) e.setAttribute("style", style);
  if (text) e.textContent = text;
  return e;
};
var overlay = el("div", "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;font:15px/1.45 system-ui,sans-serif;color:#1d2330");
overlay.className = "errata-report-dialog";
var box = el("form", "background:#fff;border-radius:8px;padding:20px;width:min(480px,92vw);box-shadow:0 8px 32px rgba(0,0,0,.3);display:flex;flex-direction:column;gap:10px");
box.setAttribute("novalidate", "");
box.appendChild(el("h2", "margin:0;font-size:20px", config.title));
box.appendChild(el("p", "margin:0;color:#667085", config.subtitle));
box.appendChild(el("p", "margin:0;color:#667085", config.subtitle2));
var field = function (label, name, value, multiline) {
  var l = el("label", "display:flex;flex-direction:column;gap:4px;font-size:14px;color:#667085", label);
  var input = el(multiline ? "textarea" : "input", "font:inherit;color:#1d2330;padding:7px 9px;border:1px solid #c9ced6;border-radius:6px" + (multiline ? ";min-height:90px" : ""));
  input.name = name;
  if (!multiline) input.type = name === "email" ? "email" : "text";
  input.value = value || "";
  l.appendChild(input);
  box.appendChild(l);
  return input;
};
var name = field(config.labelName, "name", config.name);
var email = field(config.labelEmail, "email", config.email);
var comments = field(config.labelComments, "comments", "", true);
var error = el("p", "margin:0;color:#c0262d;display:none");
error.setAttribute("role", "alert");
box.appendChild(error);
var buttons = el("div", "display:flex;gap:8px;justify-content:flex-end");
var close = el("button", "font:inherit;padding:7px 14px;border:1px solid #c9ced6;border-radius:6px;background:#fff;cursor:pointer", config.labelClose);
close.type = "button";
var submit = el("button", "font:inherit;padding:7px 14px;border:0;border-radius:6px;background:#b4233c;color:#fff;cursor:pointer", config.labelSubmit);
submit.type = "submit";
buttons.appendChild(close);
buttons.appendChild(submit);
box.appendChild(buttons);
overlay.appendChild(box);
var done = function () {
  overlay.remove();
  window.postMessage("__sentry_reportdialog_closed__", "*");
};
close.addEventListener("click", done);
box.addEventListener("submit", function (e) {
  e.preventDefault();
  error.style.display = "none";
  submit.disabled = true;
  var body = new URLSearchParams();
  body.set("name", name.value);
  body.set("email", email.value);
  body.set("comments", comments.value);
  fetch(config.url, { method: "POST", body: body, mode: "cors", credentials: "omit" })
    .then(function (res) {
      return res.json().then(function (answer) {
        if (!res.ok) throw new Error((answer && answer.detail) || config.errorGeneric);
      });
    })
    .then(function () {
      while (box.firstChild) box.removeChild(box.firstChild);
      box.appendChild(el("p", "margin:0;font-size:16px", config.successMessage));
      var ok = el("button", "font:inherit;padding:7px 14px;border:1px solid #c9ced6;border-radius:6px;background:#fff;cursor:pointer;align-self:flex-end", config.labelClose);
      ok.type = "button";
      ok.addEventListener("click", done);
      box.appendChild(ok);
    })
    .catch(function (err) {
      error.textContent = String(err && err.message ? err.message : err);
      error.style.display = "block";
      submit.disabled = false;
    });
});
(doc.body || doc.documentElement).appendChild(overlay);
