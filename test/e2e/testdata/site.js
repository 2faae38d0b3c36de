/*
 * TEST FIXTURE: the fake shop's own script in test/e2e, doing what a site
 * does to wire chattoken's client.js into the chat widget:
 *   - on "lcw:ready", register chattoken.authTokenProvider (passed unbound)
 *     with the widget's setAuthTokenProvider;
 *   - some time AFTER client.js has loaded, assign the chattoken.context hook
 *     that sends the page URL as the msdyn_pageurl context variable (unless
 *     the page says data-context="off": then client.js sends a plain GET);
 *   - start a chat when the button is clicked.
 * It records what happened on document.body.dataset for the Go test.
 */
(function () {
  'use strict';
  var body = document.body;
  body.dataset.provider = 'waiting';

  window.addEventListener('lcw:ready', function () {
    try {
      var sdk = window.Microsoft.Omnichannel.LiveChatWidget.SDK;
      sdk.setAuthTokenProvider(window.chattoken && window.chattoken.authTokenProvider);
      body.dataset.provider = 'registered';
    } catch (err) {
      body.dataset.provider = 'error';
      body.dataset.providerError = String(err && err.message || err);
    }
    show();
  });

  // client.js reports why it gave the widget no token.
  window.addEventListener('chattoken:error', function (event) {
    window.lastChattokenError = event.detail;
    body.dataset.chattokenError = event.detail && event.detail.kind;
  });

  if (body.dataset.context === 'off') {
    body.dataset.contextHook = 'off';
  } else {
    setTimeout(function () {
      window.chattoken.context = function () { return { msdyn_pageurl: location.href }; };
      body.dataset.contextHook = 'set';
      show();
    }, 150);
  }

  document.getElementById('start-chat').addEventListener('click', function () {
    window.Microsoft.Omnichannel.LiveChatWidget.SDK.startChat();
  });

  document.getElementById('page-url').textContent = location.href;

  function show() {
    document.getElementById('provider-state').textContent = body.dataset.provider +
      (body.dataset.providerError ? ' (' + body.dataset.providerError + ')' : '');
    document.getElementById('context-state').textContent = body.dataset.contextHook || 'not yet';
  }
  show();
})();
