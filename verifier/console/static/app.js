// synwatch console: the live changes feed (server-sent events). Everything
// else is plain links and forms. Rows are built with textContent, never HTML.
"use strict";
(function () {
  var table = document.getElementById("changes");
  if (!table || !window.EventSource) { return; }
  var body = table.tBodies[0];
  var kind = table.getAttribute("data-kind") || "";
  var status = document.getElementById("live-status");
  var main = document.getElementById("main");
  var csrf = main ? main.getAttribute("data-csrf") : "";
  var canAct = body.querySelector("form") !== null || table.getAttribute("data-can-act") === "1";
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) { var s = document.createElement("span"); s.className = cls; s.textContent = text; td.appendChild(s); }
    else { td.textContent = text; }
    tr.appendChild(td); return td;
  }
  function add(c) {
    if (kind && c.kind !== kind) { return; }
    if (body.querySelector('tr[data-id="' + CSS.escape(c.id) + '"]')) { return; }
    var empty = body.querySelector("tr.empty"); if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.setAttribute("data-id", c.id); tr.className = "fresh";
    var when = document.createElement("time"); when.dateTime = c.at;
    when.textContent = c.at.replace("T", " ").replace(/\..*|Z$/, "");
    var td = document.createElement("td"); td.appendChild(when); tr.appendChild(td);
    cell(tr, c.kind, "kind kind-" + c.kind);
    td = document.createElement("td");
    if (c.url) { var a = document.createElement("a"); a.href = c.url; a.textContent = c.addr; td.appendChild(a); }
    else { td.textContent = c.addr; }
    tr.appendChild(td);
    cell(tr, c.summary);
    var sev = c.severity || "none"; cell(tr, sev, "sev sev-" + sev);
    td = document.createElement("td");
    if (canAct && csrf) {
      var f = document.createElement("form"); f.method = "post"; f.className = "inline";
      f.action = "/changes/" + encodeURIComponent(c.id) + "/ack";
      [["csrf", csrf], ["back", "/changes"]].forEach(function (kv) {
        var i = document.createElement("input"); i.type = "hidden"; i.name = kv[0]; i.value = kv[1]; f.appendChild(i);
      });
      var b = document.createElement("button"); b.type = "submit"; b.textContent = "Acknowledge";
      b.setAttribute("aria-label", "Acknowledge " + c.kind + " of " + c.addr); f.appendChild(b); td.appendChild(f);
    } else { td.textContent = "no"; td.className = "muted"; }
    tr.appendChild(td);
    body.insertBefore(tr, body.firstChild);
  }
  var es = new EventSource("/changes/events");
  es.addEventListener("change", function (e) { try { add(JSON.parse(e.data)); } catch (err) { /* ignore a bad event */ } });
  es.onopen = function () { if (status) { status.textContent = "Live: new changes appear at the top as they are recorded."; } };
  es.onerror = function () { if (status) { status.textContent = "Live feed interrupted; reconnecting…"; } };
})();
