// The live tail of a running agent's log: appends what the server-sent events bring.
"use strict";
(function () {
  var MAX_SHOWN = 512 * 1024;
  function follow(log) {
    var source = new EventSource(log.dataset.stream);
    var indicator = document.getElementById("live-indicator");
    var state = document.getElementById("run-state");
    function nearBottom() {
      return window.innerHeight + window.scrollY >= document.body.offsetHeight - 80;
    }
    function append(text) {
      var stick = nearBottom();
      var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
      var shown = log.textContent + text + "\n";
      if (shown.length > MAX_SHOWN) {  // keep the page light: drop the oldest lines
        shown = shown.slice(shown.indexOf("\n", shown.length - MAX_SHOWN) + 1);
      }
      log.textContent = shown;
      if (atEnd) { log.scrollTop = log.scrollHeight; }
      if (stick) { window.scrollTo(0, document.body.scrollHeight); }
    }
    source.addEventListener("log", function (event) { append(event.data); });
    source.addEventListener("reset", function () { log.textContent = ""; });
    source.addEventListener("end", function (event) {
      source.close();
      if (indicator) { indicator.textContent = "ended"; indicator.className = "badge"; }
      if (state) {
        state.innerHTML = "";
        var badge = document.createElement("span");
        badge.className = "badge state-" + event.data;
        badge.textContent = event.data;
        state.appendChild(badge);
      }
      log.dataset.ended = event.data;
    });
    source.addEventListener("error", function () {
      if (indicator && source.readyState === EventSource.CONNECTING) {
        indicator.textContent = "reconnecting";
      }
    });
    source.addEventListener("open", function () {
      if (indicator) { indicator.textContent = "live"; }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var log = document.getElementById("log");
    if (log) { log.scrollTop = log.scrollHeight; }
    if (log && log.dataset.stream) { follow(log); }
  });
})();
