// After the clearance form is sent, the page opens at #result (the verdict, or why there is
// none): the browser scrolls there by itself; this also moves the keyboard focus to it, so a
// screen reader reads it next. Without JavaScript the scroll alone remains.
"use strict";
(function () {
  var result = document.getElementById("result");
  if (result && window.location.hash === "#result") {
    result.focus();
  }
})();
