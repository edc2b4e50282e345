'use strict';

// How the app talks to a Blue Gateway: its base URL and token come from the connection (bundle.authData).

/** The gateway's base URL without a trailing slash, e.g. `https://gateway.example.com`. */
const baseUrl = (bundle) => String(bundle.authData.baseUrl || '').trim().replace(/\/+$/, '');

/** An absolute URL on the user's gateway for `path` (which starts with `/`). */
const gatewayUrl = (bundle, path) => `${baseUrl(bundle)}${path}`;

/** Every request carries the connection's gateway token as a bearer token. */
const addBearerToken = (request, z, bundle) => {
  if (bundle.authData && bundle.authData.token) {
    request.headers = request.headers || {};
    request.headers.Authorization = `Bearer ${bundle.authData.token}`;
  }
  return request;
};

/** The gateway answers errors as `{"status_code", "detail"}`: show the detail to the Zap's owner. */
const explainErrors = (response, z) => {
  if (response.status < 400) {
    return response;
  }
  let detail = '';
  try {
    detail = JSON.parse(response.content).detail || '';
  } catch (err) {
    detail = String(response.content || '').slice(0, 200);
  }
  if (response.status === 401) {
    throw new z.errors.Error(
      `The gateway refused the token (401 ${detail}). Check the Gateway token of this connection.`,
      'AuthenticationError',
      401,
    );
  }
  throw new z.errors.Error(`The gateway answered ${response.status}: ${detail}`, 'GatewayError', response.status);
};

module.exports = { addBearerToken, baseUrl, explainErrors, gatewayUrl };
