// offerbridge's GraphiQL page (index.html beside this file; served at /graphiql/).
//
// Authentication: the token typed in the bar (kept in sessionStorage under `offerbridge.token`:
// this tab only, gone when it closes; localStorage would hand it to any later page served on
// the same host and port)
// is sent as `Authorization: Bearer <token>` on every HTTP request, and as
// `{"Authorization": "Bearer <token>"}` in the WebSocket `connection_init` payload
// (graphql-transport-ws) of subscriptions. An `Authorization` header in GraphiQL's Headers tab
// wins over the bar, for both. A new token makes a new fetcher: GraphiQL fetches the schema
// again, and the next subscription opens its WebSocket with the new token (GraphiQL's bundled
// graphql-ws client is created per subscription, lazily, and closes when it ends).
(function () {
  'use strict';

  var TOKEN_KEY = 'offerbridge.token';
  var body = document.body;
  var endpoint = body.getAttribute('data-endpoint') || '/graphql';
  var wsPath = body.getAttribute('data-subscription-endpoint') || '/graphql/ws';
  var wsUrl = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + wsPath;

  var form = document.getElementById('ob-bar');
  var input = document.getElementById('ob-token');
  var showButton = document.getElementById('ob-token-show');
  var clearButton = document.getElementById('ob-token-clear');
  var status = document.getElementById('ob-token-status');

  function load() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }
  function store(value) {
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // Storage disabled: the token lasts as long as the page.
    }
  }

  /** `Bearer <token>`; a pasted `Bearer …` is kept as it is. */
  function bearer(token) {
    return /^bearer\s/i.test(token) ? token : 'Bearer ' + token;
  }

  /** The Headers tab's headers without any Authorization, and that Authorization if any. */
  function splitHeaders(headers) {
    var rest = {};
    var authorization = null;
    if (headers && typeof headers === 'object') {
      Object.keys(headers).forEach(function (name) {
        if (name.toLowerCase() === 'authorization') {
          if (headers[name] != null && String(headers[name]).trim() !== '') authorization = String(headers[name]);
        } else {
          rest[name] = headers[name];
        }
      });
    }
    return { rest: rest, authorization: authorization };
  }

  /**
   * GraphiQL's fetcher (HTTP for queries and mutations, graphql-ws for subscriptions) with
   * the Authorization header settled first: the Headers tab's, else the token's. The same
   * headers object becomes the WebSocket connection_init payload.
   */
  function makeFetcher(token) {
    var base = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: wsUrl });
    return function fetcher(params, opts) {
      var split = splitHeaders(opts && opts.headers);
      var authorization = split.authorization || (token ? bearer(token) : null);
      if (authorization) {
        split.rest.Authorization = authorization;
      } else if (params && params.operationName === 'IntrospectionQuery') {
        // Without a token the gateway does not answer introspection (UNAUTHENTICATED): say
        // where the token goes before GraphiQL shows a schema error.
        return Promise.resolve({ errors: [{ message: NO_TOKEN }] });
      }
      return base(params, Object.assign({}, opts, { headers: split.rest }));
    };
  }

  var NO_TOKEN =
    'No API token: put one in the API token field above (or an Authorization header in the Headers tab) to load the schema and run operations.';

  var DEFAULT_QUERY = [
    '# offerbridge admin API.',
    '# Put an API token in the bar above',
    '# (or an Authorization header in the',
    '# Headers tab), then press Ctrl-Enter.',
    '{',
    '  campaigns(first: 5) {',
    '    nodes {',
    '      externalId',
    '      title',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  var current = null;

  function showStatus(token) {
    status.textContent = token ? 'sent as Authorization: Bearer …, kept in this tab only' : 'no token: the API answers UNAUTHENTICATED';
    status.className = token ? '' : 'ob-warn';
  }

  function apply(token) {
    token = token.trim();
    if (token === current) return;
    current = token;
    store(token);
    showStatus(token);
    root.render(
      React.createElement(GraphiQL, {
        fetcher: makeFetcher(token),
        defaultQuery: DEFAULT_QUERY,
        defaultEditorToolsVisibility: true,
      }),
    );
  }

  var timer = null;
  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      apply(input.value);
    }, 400);
  });
  input.addEventListener('change', function () {
    clearTimeout(timer);
    apply(input.value);
  });
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clearTimeout(timer);
    apply(input.value);
  });
  showButton.addEventListener('click', function () {
    var hidden = input.type === 'password';
    input.type = hidden ? 'text' : 'password';
    showButton.textContent = hidden ? 'hide' : 'show';
  });
  clearButton.addEventListener('click', function () {
    clearTimeout(timer);
    input.value = '';
    apply('');
  });

  input.value = load();
  current = null;
  apply(input.value);
})();
