// The live indicator: "on" only once the server confirms this feed is subscribed, so
// what arrives after it shows up here (the browser tests wait for it too).
(function () {
  function setLive(on, word) {
    var el = document.getElementById("live-state");
    if (!el) return;
    el.dataset.live = on ? "on" : "off";
    el.querySelector(".live-word").textContent = word;
  }
  document.addEventListener("signalbox-live", function () { setLive(true, "live"); });
  document.addEventListener("htmx:sse:error", function () { setLive(false, "reconnecting…"); });
  document.addEventListener("htmx:sse:close", function () { setLive(false, "disconnected"); });
})();
