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

// An endpoint's page: the add-subscription form shows only the event
// checkboxes of the resource type chosen, and choosing a test event type
// loads its example (the page again, with ?testType=).
(function () {
  "use strict";
  var resource = document.getElementById("sub-resource-type");
  if (resource) {
    var showTypes = function () {
      var sets = document.querySelectorAll("fieldset[data-resource-type]");
      for (var i = 0; i < sets.length; i++) {
        sets[i].hidden = sets[i].getAttribute("data-resource-type") !== resource.value;
      }
    };
    resource.addEventListener("change", showTypes);
    showTypes();
  }
  var testType = document.getElementById("test-type");
  if (testType && testType.getAttribute("data-example-path")) {
    testType.addEventListener("change", function () {
      window.location.assign(
        testType.getAttribute("data-example-path") +
          "?testType=" + encodeURIComponent(testType.value) + "#test-event"
      );
    });
  }
})();
