// driftscope report: draws the charts from the JSON in #report-figures and makes the column
// table sortable (click a header) and filterable (name, drifting only). No network access.
(function () {
  "use strict";
  var figures = JSON.parse(document.getElementById("report-figures").textContent);
  var config = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  document.querySelectorAll("[data-figure]").forEach(function (div) {
    var figure = figures[Number(div.getAttribute("data-figure"))];
    if (figure) {
      Plotly.newPlot(div, figure.data, figure.layout, config);
    }
  });

  var table = document.getElementById("columns");
  if (!table) {
    return;
  }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var filter = document.getElementById("column-filter");
  var driftingOnly = document.getElementById("drifting-only");
  var shown = document.getElementById("columns-shown");

  function apply() {
    var needle = (filter.value || "").toLowerCase();
    var count = 0;
    rows.forEach(function (row) {
      var name = (row.getAttribute("data-name") || "").toLowerCase();
      var visible = name.indexOf(needle) !== -1 &&
        (!driftingOnly.checked || row.getAttribute("data-drifted") === "true");
      row.hidden = !visible;
      if (visible) {
        count += 1;
      }
    });
    shown.textContent = count + " of " + rows.length + " columns shown";
  }
  filter.addEventListener("input", apply);
  driftingOnly.addEventListener("change", apply);

  function key(row, column) {
    var cell = row.cells[column];
    var value = cell ? cell.getAttribute("data-sort") : null;
    if (value === null || value === "") {
      return null;
    }
    var asNumber = Number(value);
    return isNaN(asNumber) ? value.toLowerCase() : asNumber;
  }
  table.querySelectorAll("th[data-column]").forEach(function (header) {
    header.addEventListener("click", function () {
      var column = Number(header.getAttribute("data-column"));
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th[aria-sort]").forEach(function (other) {
        other.removeAttribute("aria-sort");
      });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      rows.sort(function (a, b) {
        var x = key(a, column), y = key(b, column);
        if (x === y) { return 0; }
        if (x === null) { return 1; }  // empty cells last either way
        if (y === null) { return -1; }
        var order = typeof x === typeof y ? (x < y ? -1 : 1) : (typeof x === "number" ? -1 : 1);
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  apply();
})();
