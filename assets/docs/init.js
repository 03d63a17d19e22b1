// Starts Swagger UI on the congvan API page (/docs). Kept out of the HTML so
// that the page's Content-Security-Policy needs no 'unsafe-inline' for scripts.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    persistAuthorization: true,
    // The default validator badge is fetched from a public service: the page
    // must work offline, so it is turned off.
    validatorUrl: null,
  });
});
