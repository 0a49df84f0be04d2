/* Shared by the role pages: the map object, page data, JSON calls, the ready flag. */
(function () {
  "use strict";
  var holder = document.getElementById("gm-map");
  var source = document.getElementById("gm-data");
  var gm = {
    map: holder ? window[holder.getAttribute("data-map")] : null,
    data: source ? JSON.parse(source.textContent || "{}") : {},
    /* fetch JSON with the session cookie; rejects with the service's error description */
    api: function (method, url, body) {
      var options = {
        method: method,
        credentials: "same-origin",
        headers: {"Accept": "application/json", "X-Requested-With": "GridMap"}
      };
      if (body !== undefined) {
        options.headers["Content-Type"] = "application/json";
        options.body = JSON.stringify(body);
      }
      return fetch(url, options).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (json) {
          if (!response.ok) {
            var error = new Error(json.description || response.statusText);
            error.status = response.status;
            throw error;
          }
          return json;
        });
      });
    },
    /* an element with plain text (never parsed as HTML) */
    el: function (tag, text, className) {
      var node = document.createElement(tag);
      if (text !== undefined && text !== null) { node.textContent = String(text); }
      if (className) { node.className = className; }
      return node;
    }
  };
  window.gm = gm;
  var focus = gm.data.focus;
  if (gm.map && focus) {
    gm.map.fitBounds([[focus[1], focus[0]], [focus[3], focus[2]]], {maxZoom: 17});
  }
  function ready() {
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        document.documentElement.setAttribute("data-ready", "1");
        window.__gmReady = performance.now();
      });
    });
  }
  if (document.readyState === "complete") { ready(); } else { window.addEventListener("load", ready); }
}());
