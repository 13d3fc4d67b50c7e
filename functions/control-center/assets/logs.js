// The logs page's live refresh (served from the binary: the Content-Security-Policy allows
// scripts from files of this origin only). While "live" is ticked and the tab is visible, it asks
// #logs-live's address (GET <base>/logs/lines, the page's filter) for the lines after its cursor
// and puts each into the table by its time, newest on top; a poll reads the last seconds again
// (lines reach CloudWatch late), so a line already shown (same key) is skipped. Any failure (a
// refusal, an expired session, the network) stops it and says so. Rows are built with
// textContent: whatever a line says is shown as text.
(function () {
  "use strict";
  var live = document.getElementById("logs-live");
  var toggle = document.getElementById("live-toggle");
  var table = document.querySelector("table.logs");
  if (!live || !toggle || !table || !table.tBodies[0]) {
    return;
  }
  var tbody = table.tBodies[0];
  var status = live.querySelector(".live-status");
  var url = live.dataset.url;
  var after = Number(live.dataset.afterMs);
  var interval = Math.max(2000, Number(live.dataset.intervalMs) || 5000);
  var MAX_ROWS = 1000;
  var seen = new Map(); // key -> timestamp_ms, of the lines after the cursor
  var timer = null;
  var busy = false;

  Array.prototype.forEach.call(tbody.rows, function (tr) {
    if (tr.dataset.key) {
      seen.set(tr.dataset.key, Number(tr.dataset.ts));
    }
  });

  function say(text, failed) {
    status.textContent = text || "";
    status.classList.toggle("failed", !!failed);
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    if (className) {
      td.className = className;
    }
    td.textContent = text || "";
    tr.appendChild(td);
    return td;
  }

  function rowOf(line) {
    var tr = document.createElement("tr");
    var level = String(line.level || "").toLowerCase();
    if (/^[a-z]+$/.test(level)) {
      tr.className = level;
    }
    tr.classList.add("new");
    tr.dataset.key = line.key;
    tr.dataset.ts = String(line.timestamp_ms);
    cell(tr, line.time);
    cell(tr, line.function);
    cell(tr, line.level);
    cell(tr, line.event ? line.message + " · " + line.event : line.message);
    var call = cell(tr, "");
    // A link the server made (a path of this site), never anything else.
    if (line.call_id && typeof line.call_link === "string" && line.call_link.charAt(0) === "/"
        && line.call_link.charAt(1) !== "/") {
      var a = document.createElement("a");
      a.href = line.call_link;
      var code = document.createElement("code");
      code.textContent = line.call_id;
      a.appendChild(code);
      call.appendChild(a);
    }
    cell(tr, line.details, "fields");
    return tr;
  }

  // Into the table by its time (newest on top); false if it is there already.
  function insert(line) {
    if (typeof line.key !== "string" || seen.has(line.key)) {
      return false;
    }
    seen.set(line.key, line.timestamp_ms);
    var before = tbody.rows[0];
    while (before && Number(before.dataset.ts) > line.timestamp_ms) {
      before = before.nextElementSibling;
    }
    tbody.insertBefore(rowOf(line), before || null);
    return true;
  }

  function stop(reason) {
    toggle.checked = false;
    schedule();
    say(live.dataset.stopped + (reason ? " (" + reason + ")" : ""), true);
  }

  function poll() {
    if (busy || !toggle.checked || document.hidden) {
      return;
    }
    busy = true;
    // The server reads at most the last 15 minutes live (a page hidden longer shows the lines
    // of that time after a reload): the cursor starts no earlier than 14 of them.
    after = Math.max(after, Date.now() - 14 * 60 * 1000);
    var address = url + (url.indexOf("?") < 0 ? "?" : "&") + "after_ms=" + encodeURIComponent(after);
    // No redirect is followed: an expired session's redirect to the login form is a failure.
    fetch(address, { credentials: "same-origin", redirect: "error", headers: { Accept: "application/json" } })
      .then(function (response) {
        var type = response.headers.get("content-type") || "";
        if (type.indexOf("application/json") !== 0) {
          throw new Error(String(response.status));
        }
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body.message || String(response.status));
          }
          return body;
        });
      })
      .then(function (body) {
        if (!toggle.checked) {
          return;
        }
        var added = 0;
        (body.lines || []).forEach(function (line) {
          if (insert(line)) {
            added += 1;
          }
        });
        if (typeof body.next_after_ms === "number" && body.next_after_ms > after) {
          after = body.next_after_ms;
        }
        seen.forEach(function (ts, key) {
          if (ts <= after) {
            seen.delete(key);
          }
        });
        while (tbody.rows.length > MAX_ROWS) {
          tbody.deleteRow(-1);
        }
        if (added > 0) {
          table.hidden = false;
          var empty = document.getElementById("logs-empty");
          if (empty) {
            empty.remove();
          }
        }
        say(body.truncated ? live.dataset.truncated : "", false);
      })
      .catch(function (error) {
        stop(error && error.message);
      })
      .finally(function () {
        busy = false;
      });
  }

  function schedule() {
    if (timer !== null) {
      clearInterval(timer);
      timer = null;
    }
    if (toggle.checked) {
      timer = setInterval(poll, interval);
    }
  }

  toggle.addEventListener("change", function () {
    say("", false);
    schedule();
    poll();
  });
  document.addEventListener("visibilitychange", poll);
  schedule();
  poll();
})();
