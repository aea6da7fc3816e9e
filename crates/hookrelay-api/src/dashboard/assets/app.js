// The dashboard works without this script. With it, the new-endpoint form
// shows only the event checkboxes of the API version chosen.
(function () {
  "use strict";
  var select = document.getElementById("apiVersion");
  if (!select) {
    return;
  }
  function show() {
    var sets = document.querySelectorAll("fieldset[data-version]");
    for (var i = 0; i < sets.length; i++) {
      sets[i].hidden = sets[i].getAttribute("data-version") !== select.value;
    }
  }
  select.addEventListener("change", show);
  show();
})();
