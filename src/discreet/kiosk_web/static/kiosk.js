// discreet kiosk page: the only script. It returns the screen to the start when the
// visit ends (forgotten elsewhere, replaced, or wiped for being idle), so that no
// previous visitor's books stay on screen. Asking does not keep the visit alive.
(function () {
  "use strict";
  var every = Number(document.body.getAttribute("data-poll-ms") || 0);
  if (!every) {
    return;
  }
  function check() {
    fetch("/visit/status", { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.json();
      })
      .then(function (status) {
        if (status.active) {
          window.setTimeout(check, every);
        } else {
          window.location.replace("/");
        }
      })
      .catch(function () {
        window.setTimeout(check, every);
      });
  }
  window.setTimeout(check, every);
})();
