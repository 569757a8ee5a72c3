/* File pickers that speak the page's language (ui.file_pick). The browser's own picker
   says "Choose File" in the browser's language, whatever the page's; with JavaScript, the
   picker sits transparent over a translated button and the chosen file's name is shown beside
   it. Without JavaScript the browser's picker is shown as it is. */
(function () {
  "use strict";
  document.querySelectorAll(".file-pick").forEach(function (pick) {
    var input = pick.querySelector("input[type=file]");
    var shown = pick.querySelector(".file-choose");
    var name = pick.querySelector(".file-name");
    if (!input || !shown || !name) {
      return;
    }
    var none = name.textContent;
    function show() {
      name.textContent = input.files && input.files.length ? input.files[0].name : none;
    }
    input.addEventListener("change", show);
    shown.hidden = false;
    pick.classList.add("enhanced");
    show();
  });
})();
