// Copies a certificate's verification link. Without JavaScript the link stays in a read-only
// field to select and copy by hand, and the button stays hidden.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var field = document.getElementById(button.dataset.copy);
  var status = document.getElementById(button.dataset.copy + "-status");
  if (!field || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(field.value).then(
      function () {
        status.textContent = button.dataset.copied;
      },
      function () {
        field.select();
      }
    );
  });
});
