/* The dispatcher's panel: dispatch runs, suggestion lines, accepting, incident details.
   Every value from the service is shown with textContent (never parsed as HTML). */
(function () {
  "use strict";
  var gm = window.gm, T = gm.data.text, el = gm.el, lang = gm.data.lang;
  var LIST_MAX = 300;
  var status = document.getElementById("gm-job");
  var list = document.getElementById("gm-suggestions");
  var acceptAll = document.getElementById("gm-accept-all");
  var suggest = document.getElementById("gm-suggest");
  var detail = document.getElementById("gm-detail");
  var layer = gm.map ? L.layerGroup().addTo(gm.map) : null;
  var job = null, rows = [], asked = 0;

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (all, key) {
      return values[key] === undefined ? all : String(values[key]);
    });
  }

  function fail(error, where) {
    var target = where || status;
    target.textContent = "";
    if (error.status === 401) {
      var link = el("a", T.signin);
      link.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      target.appendChild(link);
    } else {
      target.appendChild(el("span", T.failed + error.message, "gm-fail"));
    }
  }

  function clear() {
    rows = [];
    list.textContent = "";
    if (layer) { layer.clearLayers(); }
  }

  suggest.addEventListener("click", function () {
    suggest.disabled = true;
    acceptAll.disabled = true;
    clear();
    status.textContent = T.running;
    var body = {include_received: document.getElementById("gm-include-received").checked};
    var at = document.getElementById("gm-plan-at").value;
    if (at) { body.now = at; }
    gm.api("POST", "/api/dispatch", body).then(function (started) {
      job = started.id;
      poll();
    }).catch(function (error) { fail(error); suggest.disabled = false; });
  });

  function poll() {
    gm.api("GET", "/api/jobs/" + encodeURIComponent(job)).then(function (state) {
      if (state.status === "done") { return load(); }
      if (state.status === "failed") {
        fail(new Error(state.error));
        suggest.disabled = false;
        return null;
      }
      status.textContent = T.running + " " + Math.round(100 * state.progress) + "% " +
        (state.message || "");
      setTimeout(poll, 300);
      return null;
    }).catch(function (error) { fail(error); suggest.disabled = false; });
  }

  function load() {
    var url = "/dispatch/jobs/" + encodeURIComponent(job) + "/lines?lang=" + lang;
    return gm.api("GET", url).then(function (answer) {
      rows = answer.rows;
      draw();
      suggest.disabled = false;
      acceptAll.disabled = rows.length === 0;
      var text = fill(T.suggested, {n: rows.length, u: answer.unassigned});
      if (rows.length > LIST_MAX) { text += " · " + fill(T.shown, {n: LIST_MAX}); }
      status.textContent = text;
      document.documentElement.setAttribute("data-suggestions", String(rows.length));
    });
  }

  function draw() {
    var fragment = document.createDocumentFragment();
    rows.forEach(function (row, i) {
      if (row.from && row.to && layer) {
        row.line = L.polyline([row.from, row.to], {
          color: "#444444", weight: 2, dashArray: "6 4", className: "gm-suggestion"
        });
        row.line.bindTooltip(function () {
          return el("span", row.incident_id + " → " + row.worker_name);
        });
        layer.addLayer(row.line);
      }
      if (i < LIST_MAX) { fragment.appendChild(item(row)); }
    });
    list.appendChild(fragment);
  }

  function item(row) {
    var li = el("li");
    li.setAttribute("data-incident", row.incident_id);
    var head = el("div", null, "gm-row");
    head.appendChild(el("b", row.incident_id));
    head.appendChild(el("span", row.category + " · " + row.priority));
    var who = el("div", null, "gm-row");
    who.appendChild(el("span", T.to));
    var input = el("input");
    input.type = "text";
    input.value = row.worker_id;
    input.setAttribute("list", "gm-workers");
    input.setAttribute("aria-label", T.worker);
    who.appendChild(input);
    who.appendChild(el("span", row.worker_name + " · " + fill(T.minutes, {m: row.minutes}),
                       "gm-muted"));
    var actions = el("div", null, "gm-row");
    var accept = el("button", T.accept, "gm-accept");
    accept.type = "button";
    accept.addEventListener("click", function () { acceptRows([row]); });
    var more = el("button", T.details);
    more.type = "button";
    more.addEventListener("click", function () { showDetail(row.incident_id); });
    var result = el("span", "", "gm-result");
    actions.appendChild(accept);
    actions.appendChild(more);
    actions.appendChild(result);
    li.appendChild(head);
    li.appendChild(who);
    li.appendChild(actions);
    row.input = input;
    row.button = accept;
    row.result = result;
    return li;
  }

  function acceptRows(chosen) {
    var pending = chosen.filter(function (row) { return !row.done; });
    if (!pending.length) { return; }
    var assignments = pending.map(function (row) {
      var worker = row.input ? row.input.value.trim() : "";
      return {incident_id: row.incident_id, worker_id: worker || row.worker_id};
    });
    pending.forEach(function (row) { if (row.button) { row.button.disabled = true; } });
    var url = "/api/jobs/" + encodeURIComponent(job) + "/accept";
    gm.api("POST", url, {assignments: assignments}).then(function (report) {
      var done = {}, conflicts = {};
      report.dispatched.forEach(function (id) { done[id] = true; });
      report.conflicts.forEach(function (c) { conflicts[c.incident_id] = c.reason; });
      pending.forEach(function (row, k) {
        if (done[row.incident_id]) {
          row.done = true;
          mark(row, fill(T.dispatched, {w: assignments[k].worker_id}), "gm-done");
          if (row.line) { row.line.setStyle({color: "#1a7f37", dashArray: null, weight: 3}); }
        } else if (conflicts[row.incident_id] !== undefined) {
          mark(row, T.conflict + conflicts[row.incident_id], "gm-fail");
        } else if (row.button) {
          row.button.disabled = false;
        }
      });
      if (chosen.length > 1) {
        status.textContent = fill(T.accepted, {n: report.dispatched.length, c: report.conflicts.length});
      }
      document.getElementById("gm-reload").hidden = false;
    }).catch(function (error) {
      fail(error);
      pending.forEach(function (row) { if (row.button) { row.button.disabled = false; } });
    });
  }

  function mark(row, text, className) {
    if (!row.result) { return; }
    row.result.textContent = text;
    row.result.className = "gm-result " + className;
  }

  acceptAll.addEventListener("click", function () { acceptRows(rows); });

  function when(value) { return String(value).replace("T", " ").slice(0, 16); }

  function showDetail(id) {
    if (!id) { return; }
    var mine = ++asked;  /* only the latest request shows its answer */
    detail.textContent = "…";
    gm.api("GET", "/api/incidents/" + encodeURIComponent(id)).then(function (incident) {
      if (mine !== asked) { return; }
      detail.textContent = "";
      var fields = ["id", "category", "status", "priority", "reported_at", "deadline",
                    "worker_id", "grid_code", "source", "description"];
      var dl = el("dl");
      fields.forEach(function (name) {
        var value = incident[name];
        if (value === null || value === undefined || value === "") { return; }
        if (name === "category") { value = value + " " + (gm.data.categories[value] || ""); }
        if (name === "status") { value = gm.data.states[value] || value; }
        if (name === "reported_at" || name === "deadline") { value = when(value); }
        dl.appendChild(el("dt", T["field_" + name]));
        dl.appendChild(el("dd", value));
      });
      detail.appendChild(dl);
      detail.appendChild(el("h3", T.history));
      var table = el("table", null, "gm-table");
      var head = el("tr");
      ["col_at", "col_action", "col_change", "col_actor", "col_note"].forEach(function (key) {
        head.appendChild(el("th", T[key]));
      });
      table.appendChild(head);
      (incident.history || []).forEach(function (entry) {
        var tr = el("tr");
        var change = (gm.data.states[entry.from_status] || entry.from_status || "") + " → " +
          (gm.data.states[entry.to_status] || entry.to_status || "");
        [when(entry.at), entry.action, change, entry.actor, entry.note].forEach(function (v) {
          tr.appendChild(el("td", v === null || v === undefined ? "" : v));
        });
        table.appendChild(tr);
      });
      detail.appendChild(table);
    }).catch(function (error) { if (mine === asked) { fail(error, detail); } });
  }

  Array.prototype.forEach.call(document.querySelectorAll(".gm-details"), function (button) {
    button.addEventListener("click", function () { showDetail(button.getAttribute("data-id")); });
  });
  document.getElementById("gm-lookup").addEventListener("submit", function (event) {
    event.preventDefault();
    showDetail(document.getElementById("gm-lookup-id").value.trim());
  });
  if (gm.map) {
    gm.map.on("popupopen", function (event) {
      var node = event.popup.getElement();
      var bold = node ? node.querySelector("b") : null;
      if (bold) { showDetail(bold.textContent.trim()); }
    });
  }
}());
