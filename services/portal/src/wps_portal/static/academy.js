/* Academy pages: keeps an HR import's progress bar current while the job runs, by asking the
   portal every second; when the job ends, the page reloads to show the counts and row errors.
   Without JavaScript the page offers a refresh link instead. */
(function () {
  "use strict";
  var bar = document.querySelector("progress[data-poll]");
  if (!bar || !window.fetch) {
    return;
  }
  var url = bar.getAttribute("data-poll");
  var shown = document.getElementById("import-progress-text");
  var said = document.getElementById("import-progress-spoken");
  var refresh = document.getElementById("import-refresh");
  var failures = 0;
  var spokenAt = 0; // a screen reader hears the progress at most every five seconds
  if (refresh) {
    refresh.hidden = true;
  }

  function show(state) {
    if (state.total > 0) {
      bar.max = state.total;
      bar.value = state.processed;
    }
    bar.setAttribute("aria-valuetext", state.text);
    bar.textContent = state.text;
    if (shown) {
      shown.textContent = state.text;
    }
    var now = Date.now();
    if (said && said.textContent !== state.text && (state.done || now - spokenAt >= 5000)) {
      said.textContent = state.text;
      spokenAt = now;
    }
  }

  function poll() {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(String(response.status));
        }
        return response.json();
      })
      .then(function (state) {
        failures = 0;
        show(state);
        if (state.done) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        failures += 1;
        if (refresh) {
          refresh.hidden = false;
        }
        if (failures < 5) {
          window.setTimeout(poll, 2000);
        }
      });
  }

  window.setTimeout(poll, 1000);
})();
