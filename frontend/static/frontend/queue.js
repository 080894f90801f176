// The queue's filters sit behind a button on a phone and stay open on a wide screen.
// Progressive enhancement: without this script the button still opens them.
(function () {
  "use strict";
  var filters = document.getElementById("filters");
  if (filters && window.matchMedia("(min-width: 60rem)").matches) {
    filters.open = true;
  }
})();
