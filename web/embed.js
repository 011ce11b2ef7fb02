/* mxtls widget embed: <script src="https://CHECKER/embed.js" data-domain="example.org" async></script>
 * Places an iframe with /widget/<domain> right after this script tag and keeps it as tall as
 * its content (the widget posts its height). Sets no cookies, reads nothing of the page. */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var domain = script.getAttribute("data-domain");
  if (!domain) return;
  var origin = new URL(script.src, document.baseURI).origin;
  var frame = document.createElement("iframe");
  frame.src = origin + "/widget/" + encodeURIComponent(domain.trim());
  frame.title = "Mail TLS status of " + domain + " (mxtls)";
  frame.setAttribute("loading", "lazy");
  frame.style.cssText = "border:0;width:100%;max-width:30rem;height:8rem;display:block;color-scheme:normal";
  script.parentNode.insertBefore(frame, script.nextSibling);
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (data && data.type === "mxtls-widget-size" && typeof data.height === "number") {
      frame.style.height = Math.min(Math.max(data.height, 40), 2000) + "px";
    }
  });
})();
