/*
 * Patient Billing Agent — the embeddable chat widget. No build step, no dependencies.
 *
 * Embed with one tag (attributes other than data-token are optional):
 *   <script src="https://<service>/static/widget.js" defer
 *           data-token="<portal session token>"       signed by the practice's portal for this patient
 *           data-statement-id="<id>"                  the statement the patient is viewing
 *           data-statement-number="<number>"          shown in the widget's header
 *           data-practice-name="<name>"               branding (else the service's /v1/widget/config)
 *           data-color="#0f5c8c"                      brand colour (#rgb or #rrggbb)
 *           data-api="https://<service>"              the service (else the script's own origin)
 *           data-open="true"></script>                start opened
 *
 * An outreach message's link opens the page with ?offer=<token> (or the page passes data-offer): the
 * widget then opens at once on a new conversation that carries that message's offer (a "YES" or "PLAN"
 * works as it does in reply to the text), and takes the parameter out of the address bar.
 *
 * Page API: window.BillingAgentWidget.open() / .close() / .setToken(token) (a fresh token after expiry).
 *
 * Protocol (docs/contracts.md, api/routes/portal.py): POST /v1/portal/threads creates the conversation;
 * POST /v1/portal/threads/{id}/messages answers with an SSE stream of the turn (typing, token, message,
 * handoff, staff_message, error, done); GET /v1/portal/threads/{id}/events follows the thread live and
 * resumes after Last-Event-ID. Both are read with fetch + ReadableStream because EventSource cannot send
 * the Authorization header. Every event has an id; an id seen on either stream is never applied twice.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.BillingAgentWidget) return;

  var data = script.dataset;
  var scriptUrl = new URL(script.src, document.baseURI);
  var API = (data.api || scriptUrl.origin).replace(/\/+$/, "");
  var API_ORIGIN = new URL(API, document.baseURI).origin;
  var STATEMENT_ID = data.statementId || null;
  var STATEMENT_NUMBER = data.statementNumber || null;
  var COLOR = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(data.color || "") ? data.color : null;
  var MAX_BACKOFF_MS = 15000;
  var token = data.token || "";
  var OFFER = data.offer || offerFromPage();

  function offerFromPage() {
    try {
      var params = new URLSearchParams(window.location.search);
      var found = params.get("offer");
      if (!found) return null;
      params.delete("offer");
      var rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
      return found;
    } catch (_e) {
      return null;
    }
  }

  var STARTERS = ["What is my balance?", "Explain this bill", "Can I set up a payment plan?", "Talk to a person"];

  // ------------------------------------------------------------------ small helpers

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function tokenSubject(jwt) {
    try {
      var part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).sub || "";
    } catch (_e) {
      return "";
    }
  }

  function storageKey() {
    return "pba-thread|" + API + "|" + tokenSubject(token) + "|" + (STATEMENT_ID || "");
  }

  function remember(threadId) {
    try {
      if (threadId) window.sessionStorage.setItem(storageKey(), threadId);
      else window.sessionStorage.removeItem(storageKey());
    } catch (_e) {
      /* storage may be disabled: the conversation then lasts as long as the page */
    }
  }

  function remembered() {
    try {
      return window.sessionStorage.getItem(storageKey());
    } catch (_e) {
      return null;
    }
  }

  function ApiError(status, detail, retryAfter) {
    this.status = status;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }

  function headers(extra) {
    var h = { Authorization: "Bearer " + token, Accept: "application/json" };
    Object.keys(extra || {}).forEach(function (k) {
      h[k] = extra[k];
    });
    return h;
  }

  function request(method, path, body, extra, signal) {
    var init = { method: method, headers: headers(extra), credentials: "omit", cache: "no-store" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (signal) init.signal = signal;
    return fetch(API + path, init).then(function (response) {
      if (response.ok) return response;
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (payload) {
          var detail = typeof payload.detail === "string" ? payload.detail : "";
          throw new ApiError(response.status, detail, Number(response.headers.get("Retry-After")) || 0);
        });
    });
  }

  /* Read an SSE body (fetch + ReadableStream): calls onEvent({id, event, data}) per event. */
  function readSse(response, onEvent, onRetry) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";

    function dispatch(block) {
      var id = null;
      var type = "message";
      var lines = [];
      block.split("\n").forEach(function (line) {
        if (!line || line.charAt(0) === ":") return;
        var colon = line.indexOf(":");
        var field = colon < 0 ? line : line.slice(0, colon);
        var value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "id") id = value;
        else if (field === "event") type = value;
        else if (field === "data") lines.push(value);
        else if (field === "retry" && /^\d+$/.test(value) && onRetry) onRetry(Number(value));
      });
      if (!lines.length || id === null) return;
      var payload;
      try {
        payload = JSON.parse(lines.join("\n"));
      } catch (_e) {
        return;
      }
      onEvent({ id: Number(id), event: type, data: payload });
    }

    function pump() {
      return reader.read().then(function (chunk) {
        if (chunk.done) {
          buffer += decoder.decode();
          if (buffer.trim()) dispatch(buffer.replace(/\r\n?/g, "\n"));
          return;
        }
        buffer += decoder.decode(chunk.value, { stream: true });
        buffer = buffer.replace(/\r\n?/g, "\n");
        var at;
        while ((at = buffer.indexOf("\n\n")) >= 0) {
          dispatch(buffer.slice(0, at));
          buffer = buffer.slice(at + 2);
        }
        return pump();
      });
    }

    return pump();
  }

  // ------------------------------------------------------------------ state

  var ui = null;
  var practiceName = data.practiceName || "";
  var threadId = null;
  var threadReady = null; // a Promise of the thread id while it is being found or created
  var seen = new Set(); // event ids already applied (the turn stream and the live stream overlap)
  var liveCursor = 0; // the last event id the live stream delivered: its Last-Event-ID on reconnect
  var live = null; // AbortController of the live stream
  var liveBackoff = 1000;
  var liveTimer = null;
  var stopped = false; // the session expired or the origin is refused: nothing more is sent
  var bubbles = {}; // turn_id -> the bot bubble being written
  var typingTurns = new Set();

  // ------------------------------------------------------------------ the UI

  function build() {
    var host = el("div", { id: "pba-widget-host" });
    var root = host.attachShadow({ mode: "open" });
    var css = el("link", { rel: "stylesheet", href: scriptUrl.href.replace(/widget\.js(\?.*)?$/, "widget.css") });

    var launcher = el("button", {
      type: "button",
      class: "pba-launcher",
      "aria-expanded": "false",
      "aria-controls": "pba-panel",
      text: "Questions about your bill?",
    });

    var title = el("h2", { id: "pba-title", class: "pba-title", text: practiceName || "Billing help" });
    var subtitle = el("p", {
      class: "pba-subtitle",
      text: STATEMENT_NUMBER ? "About statement " + STATEMENT_NUMBER : "Billing assistant",
    });
    var close = el("button", { type: "button", class: "pba-close", "aria-label": "Close chat", text: "×" });
    var mode = el("p", { class: "pba-mode", role: "status", hidden: true });
    var connection = el("p", { class: "pba-connection", role: "status" });
    var log = el("ol", { class: "pba-log", "aria-label": "Conversation", tabindex: "0" });
    var typing = el("div", { class: "pba-typing", hidden: true, "aria-hidden": "true" }, [
      el("span", { class: "pba-dot" }),
      el("span", { class: "pba-dot" }),
      el("span", { class: "pba-dot" }),
    ]);
    var typingText = el("span", { class: "pba-sr-only", role: "status" });
    var suggestions = el("div", { class: "pba-suggestions", role: "group", "aria-label": "Suggested replies" });
    var announcer = el("div", { class: "pba-sr-only", "aria-live": "polite", "aria-atomic": "false" });
    var input = el("textarea", {
      id: "pba-input",
      class: "pba-input",
      rows: "1",
      maxlength: "2000",
      autocomplete: "off",
      placeholder: "Type your question",
      "aria-describedby": "pba-help",
    });
    var help = el("span", { id: "pba-help", class: "pba-sr-only", text: "Enter sends, Shift+Enter adds a line." });
    var send = el("button", { type: "submit", class: "pba-send", text: "Send" });
    var form = el("form", { class: "pba-form" }, [
      el("label", { for: "pba-input", class: "pba-sr-only", text: "Your message" }),
      input,
      help,
      send,
    ]);
    var panel = el(
      "section",
      { id: "pba-panel", class: "pba-panel", role: "dialog", "aria-labelledby": "pba-title", hidden: true },
      [
        el("header", { class: "pba-header" }, [el("div", {}, [title, subtitle]), close]),
        mode,
        log,
        typing,
        typingText,
        suggestions,
        connection,
        form,
        el("p", { class: "pba-footnote", text: "Automated assistant. Ask for a person at any time." }),
        announcer,
      ]
    );
    var frame = el("div", { class: "pba-root" }, [launcher, panel]);
    if (COLOR) frame.style.setProperty("--pba-brand", COLOR);
    root.appendChild(css);
    root.appendChild(frame);

    launcher.addEventListener("click", function () {
      setOpen(panel.hidden);
    });
    close.addEventListener("click", function () {
      setOpen(false);
    });
    panel.addEventListener("keydown", function (event) {
      if (event.key === "Escape") {
        event.preventDefault();
        setOpen(false);
      }
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit ? form.requestSubmit() : submit();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      submit();
    });

    ui = {
      host: host,
      launcher: launcher,
      panel: panel,
      title: title,
      mode: mode,
      connection: connection,
      log: log,
      typing: typing,
      typingText: typingText,
      suggestions: suggestions,
      announcer: announcer,
      input: input,
      send: send,
    };
    document.body.appendChild(host);
  }

  function setOpen(open) {
    ui.panel.hidden = !open;
    ui.launcher.setAttribute("aria-expanded", String(open));
    ui.launcher.textContent = open ? "Close billing chat" : "Questions about your bill?";
    if (open) {
      ui.input.focus();
      ensureThread().catch(fail);
    } else {
      ui.launcher.focus();
    }
  }

  function scrollDown() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function announce(text) {
    ui.announcer.appendChild(el("p", { text: text }));
    while (ui.announcer.childNodes.length > 3) ui.announcer.removeChild(ui.announcer.firstChild);
  }

  function addBubble(role, text, label) {
    var who = el("span", { class: "pba-who", text: label });
    var body = el("span", { class: "pba-text", text: text });
    var item = el("li", { class: "pba-msg pba-" + role }, [who, body]);
    ui.log.appendChild(item);
    scrollDown();
    return item;
  }

  function botLabel() {
    return "Assistant";
  }

  function setTyping(turnId, on) {
    if (on) typingTurns.add(turnId);
    else typingTurns.delete(turnId);
    var visible = typingTurns.size > 0;
    if (visible !== !ui.typing.hidden) {
      ui.typing.hidden = !visible;
      ui.typingText.textContent = visible ? "The assistant is typing" : "";
      if (visible) scrollDown();
    }
  }

  function showSuggestions(replies) {
    ui.suggestions.textContent = "";
    (replies || []).slice(0, 4).forEach(function (reply) {
      var button = el("button", { type: "button", class: "pba-chip", text: reply });
      button.addEventListener("click", function () {
        sendText(reply);
        ui.input.focus();
      });
      ui.suggestions.appendChild(button);
    });
  }

  function setMode(mode) {
    if (mode === "human") {
      ui.mode.hidden = false;
      ui.mode.textContent = "You are chatting with a member of the billing team.";
    } else {
      ui.mode.hidden = true;
      ui.mode.textContent = "";
    }
  }

  function setConnection(text) {
    ui.connection.textContent = text || "";
  }

  function notice(text) {
    addBubble("notice", text, "Notice");
    announce(text);
  }

  // ------------------------------------------------------------------ events

  function apply(evt) {
    if (seen.has(evt.id)) return;
    seen.add(evt.id);
    var d = evt.data || {};
    var turn = d.turn_id || "t" + evt.id;
    switch (evt.event) {
      case "typing":
        setTyping(turn, true);
        break;
      case "token": {
        var bubble = bubbles[turn];
        if (!bubble) {
          bubble = bubbles[turn] = addBubble("bot", "", botLabel());
          bubble.setAttribute("aria-busy", "true");
        }
        bubble.querySelector(".pba-text").textContent += d.text || "";
        setTyping(turn, false);
        scrollDown();
        break;
      }
      case "message": {
        var final = bubbles[turn] || addBubble("bot", "", botLabel());
        final.querySelector(".pba-text").textContent = d.text || "";
        final.removeAttribute("aria-busy");
        delete bubbles[turn];
        setTyping(turn, false);
        showSuggestions(d.suggested_replies);
        announce("Assistant: " + (d.text || ""));
        scrollDown();
        break;
      }
      case "handoff":
        notice("We have asked a member of the billing team to join this conversation.");
        break;
      case "staff_message":
        addBubble("staff", d.text || "", "Billing team");
        announce("Billing team: " + (d.text || ""));
        showSuggestions([]);
        break;
      case "mode":
        setMode(d.mode);
        notice(
          d.mode === "human"
            ? "A member of the billing team has joined the conversation."
            : "You are back with the automated assistant."
        );
        break;
      case "error":
        notice(d.detail || "Sorry, something went wrong. Please try again.");
        setTyping(turn, false);
        break;
      case "done":
        setTyping(turn, false);
        setTyping("pending", false);
        if (d.mode) setMode(d.mode);
        if (bubbles[turn]) {
          bubbles[turn].removeAttribute("aria-busy");
          delete bubbles[turn];
        }
        break;
      default:
        break; // an event type this version does not know: ignored, the stream goes on
    }
  }

  // ------------------------------------------------------------------ the conversation

  function ensureThread() {
    if (threadId) return Promise.resolve(threadId);
    if (threadReady) return threadReady;
    var known = OFFER ? null : remembered(); // a link's offer starts a conversation of its own
    var restore = known
      ? request("GET", "/v1/portal/threads/" + encodeURIComponent(known))
          .then(function (response) {
            return response.json();
          })
          .then(function (history) {
            restoreHistory(history);
            return history;
          })
          .catch(function (error) {
            if (error instanceof ApiError && error.status === 404) return null;
            throw error;
          })
      : Promise.resolve(null);
    threadReady = restore
      .then(function (history) {
        if (history) return history;
        if (!OFFER) greet(null);
        var body = STATEMENT_ID ? { statement_id: STATEMENT_ID } : {};
        if (OFFER) body.offer = OFFER;
        return request("POST", "/v1/portal/threads", body)
          .then(function (response) {
            return response.json();
          })
          .then(function (thread) {
            if (OFFER) greet(thread.outreach_step); // null when the link was not valid for this patient
            return { id: thread.id, mode: thread.mode, last_event_id: 0 };
          });
      })
      .then(function (thread) {
        threadId = thread.id;
        remember(threadId);
        setMode(thread.mode);
        liveCursor = thread.last_event_id || 0;
        connectLive();
        return threadId;
      });
    threadReady.catch(function () {
      threadReady = null;
    });
    return threadReady;
  }

  // The first bubble. Opened from an outreach message's link (step: the message's kind), it picks up
  // that message; the figures stay in the message and in the agent's replies, which read them fresh.
  var PLAN_OFFER_STARTERS = ["YES", "Show me other plan options", "What is my balance?", "Talk to a person"];
  var LINK_STARTERS = ["Send me a payment link", "Can I set up a payment plan?", "Explain this bill", "Talk to a person"];

  function greet(step) {
    var from = practiceName ? " from " + practiceName : "";
    if (step === "plan_offer") {
      addBubble(
        "bot",
        "Hi! You opened the payment plan offer in our message about your bill" + from +
          ". Reply YES to take it: I will show you its terms before anything is set up. Or ask me anything about your bill.",
        botLabel()
      );
      showSuggestions(PLAN_OFFER_STARTERS);
    } else if (step) {
      addBubble(
        "bot",
        "Hi! You opened the link in our message about your bill" + from +
          ". I can explain the charges, send you a payment link, or help you split the balance into a plan. What would you like to do?",
        botLabel()
      );
      showSuggestions(LINK_STARTERS);
    } else {
      addBubble(
        "bot",
        "Hi! I can help with your bill" + from +
          ": your balance, a charge you do not recognise, insurance, or paying. What would you like to know?",
        botLabel()
      );
      showSuggestions(STARTERS);
    }
  }

  function restoreHistory(history) {
    ui.log.textContent = "";
    var lastBot = null;
    (history.messages || []).forEach(function (m) {
      if (m.role === "patient") addBubble("patient", m.text, "You");
      else if (m.role === "staff") addBubble("staff", m.text, "Billing team");
      else {
        addBubble("bot", m.text, botLabel());
        lastBot = m;
      }
      if (m.event_id) seen.add(m.event_id);
    });
    showSuggestions(lastBot ? lastBot.suggested_replies : STARTERS);
    if (history.pending > 0) setTyping("pending", true);
  }

  function submit() {
    var text = ui.input.value.trim();
    if (!text) return;
    ui.input.value = "";
    sendText(text);
  }

  function sendText(text) {
    if (stopped) return;
    addBubble("patient", text, "You");
    showSuggestions([]);
    ensureThread()
      .then(function (id) {
        return request("POST", "/v1/portal/threads/" + encodeURIComponent(id) + "/messages", { text: text }, {
          Accept: "text/event-stream",
        });
      })
      .then(function (response) {
        return readSse(response, apply);
      })
      .then(function () {
        setTyping("pending", false);
      })
      .catch(function (error) {
        if (error instanceof ApiError) return fail(error);
        // The answer's own stream broke (network): the live stream resumes after its last id and brings
        // whatever this one missed; make sure it is connecting.
        setTyping("pending", false);
        connectLive();
      });
  }

  function connectLive() {
    if (stopped || !threadId || live) return;
    clearTimeout(liveTimer);
    var controller = new AbortController();
    live = controller;
    var extra = { Accept: "text/event-stream" };
    var path = "/v1/portal/threads/" + encodeURIComponent(threadId) + "/events";
    if (liveCursor > 0) extra["Last-Event-ID"] = String(liveCursor);
    else path += "?after=0";
    request("GET", path, undefined, extra, controller.signal)
      .then(function (response) {
        setConnection("");
        liveBackoff = 1000;
        return readSse(
          response,
          function (evt) {
            liveCursor = Math.max(liveCursor, evt.id);
            apply(evt);
          },
          function (retryMs) {
            liveBackoff = Math.max(500, Math.min(retryMs, MAX_BACKOFF_MS));
          }
        );
      })
      .then(
        function () {
          reconnectLive();
        },
        function (error) {
          if (controller.signal.aborted) return;
          if (error instanceof ApiError && (error.status === 401 || error.status === 404)) return fail(error);
          reconnectLive(error instanceof ApiError ? error.retryAfter * 1000 : 0);
        }
      );
  }

  function reconnectLive(atLeastMs) {
    live = null;
    if (stopped) return;
    var wait = Math.max(liveBackoff, atLeastMs || 0);
    setConnection("Connection lost. Reconnecting…");
    liveTimer = setTimeout(connectLive, wait);
    liveBackoff = Math.min(liveBackoff * 2, MAX_BACKOFF_MS);
  }

  function fail(error) {
    if (!(error instanceof ApiError)) {
      notice("We could not reach the billing service. Please check your connection and try again.");
      return;
    }
    if (error.status === 401) {
      stopped = true;
      if (live) live.abort();
      live = null;
      notice("Your session has expired. Please reload the page to keep chatting.");
    } else if (error.status === 404 && threadId) {
      remember(null);
      threadId = null;
      notice("This conversation is no longer available. Send a message to start a new one.");
    } else if (error.status === 429) {
      notice(
        "You are sending messages too quickly. Please wait" +
          (error.retryAfter ? " " + error.retryAfter + " seconds" : " a moment") +
          " and try again."
      );
    } else {
      notice(error.detail || "Sorry, something went wrong. Please try again.");
    }
  }

  // ------------------------------------------------------------------ start

  function originAllowed(allowed) {
    var here = window.location.origin;
    return here === API_ORIGIN || (allowed || []).indexOf(here) >= 0;
  }

  function start() {
    fetch(API + "/v1/widget/config", { credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("config " + response.status);
        return response.json();
      })
      .then(
        function (config) {
          if (!originAllowed(config.allowed_origins)) {
            window.console.warn("Billing widget: this page's origin is not allowed to embed the widget.");
            return;
          }
          if (!token) {
            window.console.warn("Billing widget: no data-token; the widget needs a portal session token.");
            return;
          }
          practiceName = practiceName || config.practice_name || "";
          build();
          ui.host.setAttribute("data-state", "ready");
          if (data.open === "true" || OFFER) setOpen(true);
        },
        function () {
          // CORS refuses pages of origins that are not allowed, so the configuration cannot be read.
          window.console.warn("Billing widget: the service refused this page (origin not allowed or offline).");
        }
      );
  }

  window.BillingAgentWidget = {
    open: function () {
      if (ui) setOpen(true);
    },
    close: function () {
      if (ui) setOpen(false);
    },
    setToken: function (fresh) {
      token = String(fresh || "");
      stopped = false;
      if (ui && threadId) connectLive();
    },
  };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
