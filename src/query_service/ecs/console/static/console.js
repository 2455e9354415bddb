// query-service support console: improves pages that work without it.
// Local times (UTC stays on hover), copy buttons, and "more deliveries" without a reload.
"use strict";
(function () {
  var timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  function localiseTimes(root) {
    root.querySelectorAll("time[data-ms]").forEach(function (el) {
      if (el.dataset.localised) { return; }
      el.textContent = timeFormat.format(new Date(Number(el.dataset.ms)));
      el.dataset.localised = "1";
    });
  }

  function enableCopyButtons(root) {
    if (!navigator.clipboard) { return; }
    root.querySelectorAll("button.copy[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy[data-copy]");
    if (!button) { return; }
    var label = button.textContent;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      button.textContent = "Copied";
      button.dataset.copied = "1";
      setTimeout(function () { button.textContent = label; delete button.dataset.copied; }, 2000);
    });
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-more]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
    event.preventDefault();
    link.setAttribute("aria-disabled", "true");
    fetch(link.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html");
        var rows = next.querySelectorAll("#deliveries tbody tr");
        var body = document.querySelector("#deliveries tbody");
        var first = null;
        rows.forEach(function (row) {
          var adopted = document.importNode(row, true);
          body.appendChild(adopted);
          first = first || adopted;
        });
        localiseTimes(body);
        enableCopyButtons(body);
        var shown = body.querySelectorAll("tr").length;
        var nextMore = next.getElementById("more");
        var more = document.getElementById("more");
        if (nextMore) { more.replaceWith(document.importNode(nextMore, true)); } else { more.remove(); }
        document.getElementById("page-status").textContent =
          "Showing " + shown + " deliveries, newest first; " + rows.length + " more loaded" +
          (nextMore ? "; there are more." : "; that is all.");
        var target = first && first.querySelector("a");
        if (target) { target.focus(); }
      })
      .catch(function () {
        window.location.href = link.href;  // the plain link still works: let it load the page
      });
  });

  localiseTimes(document);
  enableCopyButtons(document);
})();
