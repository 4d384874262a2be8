// Wide screens show the lot filters as an open sidebar; phones keep them behind the "Filters" control.
// Without this script the control works as it is (a <details> element).
(function () {
  "use strict";
  var panel = document.getElementById("filter-panel");
  if (!panel || !window.matchMedia) { return; }
  var wide = window.matchMedia("(min-width: 48em)");
  function follow() { panel.open = wide.matches; }
  follow();
  wide.addEventListener("change", follow);
}());
