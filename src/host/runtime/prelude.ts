// Source of the script that turns a fresh V8 context into an Espruino-shaped one. It runs inside
// the context, before the bundle, and returns helpers that the host uses to build objects and
// deliver events with the context's own intrinsics (so `instanceof Error`, Array.isArray, JSON
// and friends behave as the bundle expects).
//
// What it changes, and why:
// - every object gets Espruino's event methods (on/emit/removeListener/...); Espruino's emit
//   QUEUES the listeners instead of calling them synchronously;
// - Uint8Array#set accepts a binary string (Espruino's fast string -> bytes path);
// - String.fromCharCode keeps the low byte (ESP32 strings are 8-bit);
// - JSON.stringify writes typed arrays as arrays ("[1,2]");
// - Function#apply refuses more than 256 arguments, as Espruino does;
// - Math.clip/wrap/randInt exist, and so does InternalError (what connect failures throw);
// - Promise is Espruino's own algorithm (queued steps, its unhandled-rejection rule and its bugs);
// - Number is a stand-in whose statics are only Espruino's (V8's EPSILON etc. cannot be deleted);
// - then every global and built-in member that Espruino lacks is deleted (espruino-api.ts).
// What cannot be reproduced: Array.prototype.X / String.prototype.X are functions here (undefined
// on Espruino, where only [].X works), `arr.length = n` works, hoisting works, strings may hold
// chars above 0xFF (socket writes report them in Device.violations). The bundle gate
// (src/host/gate) catches Array.prototype.X and hoisting statically.

import { BUILTIN_API, KEPT_GLOBALS, STRUCTURAL_MEMBERS } from "./espruino-api";

/** The host side of the prelude (host-realm functions, never exposed as globals). */
export interface PreludeHost {
  /** Runs fn on a later event-loop turn, only if this boot is still alive. */
  queue(fn: () => void): void;
  /** Reports an exception thrown by bundle code that nobody caught. */
  uncaught(error: unknown): void;
  /** A listener was added (lets sockets release data held back while nobody listened). */
  listenerAdded(target: object, event: string): void;
}

/** Helpers created inside the context. */
export interface PreludeApi {
  /** A new plain object of the context. */
  object(): Record<string, unknown>;
  array(items: readonly unknown[]): unknown[];
  error(message: string): Error;
  internalError(message: string): Error;
  uint8(length: number): Uint8Array;
  arrayBuffer(length: number): ArrayBuffer;
  /** Wraps a host function in a context function; host exceptions become context Errors. */
  bridge<F extends (...args: never[]) => unknown>(fn: F, name: string): F;
  /** Calls every listener of `event` on `target` now; exceptions are reported, not thrown. */
  dispatch(target: object, event: string, args: readonly unknown[]): void;
  listenerCount(target: object, event: string): number;
  /** Espruino-style stringification of a thrown value ("Error: message"). */
  describe(value: unknown): string;
  /** Indirect eval in the global scope (setTimeout with a string). */
  evalGlobal(code: string): unknown;
  /** Finishes the environment: deletes everything Espruino lacks. Call after adding host globals. */
  prune(hostGlobals: readonly string[]): void;
}

const preludeSource = String.raw`
(function (host, api) {
  "use strict";
  var G = globalThis;
  var defineProperty = Object.defineProperty;
  var getOwnPropertyNames = Object.getOwnPropertyNames;
  var getPrototypeOf = Object.getPrototypeOf;
  var reflectApply = Reflect.apply;
  var arraySlice = Array.prototype.slice;
  var TypedArray = getPrototypeOf(Uint8Array);
  var typedSet = TypedArray.prototype.set;
  var fromCharCode = String.fromCharCode;
  var stringify = JSON.stringify;
  var ContextError = Error;
  var PREFIX = "#on";

  function hidden(obj, key, value) {
    defineProperty(obj, key, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function isObjectLike(v) {
    return (typeof v === "object" && v !== null) || typeof v === "function";
  }
  var isView = ArrayBuffer.isView;
  function isTyped(v) {
    return isView(v) && !(v instanceof DataView);
  }

  // ---- Espruino event emitter on every object ----
  function listenersOf(target, event) {
    var list = target[PREFIX + event];
    if (typeof list === "function") return [list];
    return Array.isArray(list) ? list : [];
  }
  function on(event, listener, first) {
    if (!isObjectLike(this)) throw new TypeError("Parent must be an object - not a String, Integer, etc");
    if (typeof event !== "string") throw new TypeError("First argument must be String");
    if (typeof listener !== "function" && typeof listener !== "string") throw new TypeError("Second argument must be a function or a String");
    var list = arraySlice.call(listenersOf(this, event));
    if (first) list.unshift(listener); else list.push(listener);
    hidden(this, PREFIX + event, list);
    host.listenerAdded(this, event);
  }
  function dispatch(target, event, args) {
    var list = arraySlice.call(listenersOf(target, event));
    for (var i = 0; i < list.length; i++) {
      try {
        if (typeof list[i] === "function") reflectApply(list[i], target, args);
        else (0, eval)(list[i]);
      } catch (e) {
        host.uncaught(e);
      }
    }
  }
  var OP = Object.prototype;
  hidden(OP, "on", function on_(event, listener) { on.call(this, event, listener, false); });
  hidden(OP, "addListener", function addListener(event, listener) { on.call(this, event, listener, false); });
  hidden(OP, "prependListener", function prependListener(event, listener) { on.call(this, event, listener, true); });
  hidden(OP, "emit", function emit(event) {
    if (!isObjectLike(this)) throw new TypeError("Parent must be an object - not a String, Integer, etc");
    if (typeof event !== "string") throw new TypeError("First argument must be String");
    if (arguments.length > 5) throw new TypeError("Too many arguments (>4)");
    var target = this, args = arraySlice.call(arguments, 1);
    if (listenersOf(target, event).length) host.queue(function () { dispatch(target, event, args); });
  });
  hidden(OP, "removeListener", function removeListener(event, listener) {
    if (typeof event !== "string") throw new TypeError("First argument must be String");
    var list = arraySlice.call(listenersOf(this, event));
    var i = list.indexOf(listener);
    if (i >= 0) { list.splice(i, 1); hidden(this, PREFIX + event, list); }
  });
  hidden(OP, "removeAllListeners", function removeAllListeners(event) {
    if (typeof event === "string") { delete this[PREFIX + event]; return; }
    var names = getOwnPropertyNames(this);
    for (var i = 0; i < names.length; i++) if (names[i].indexOf(PREFIX) === 0) delete this[names[i]];
  });

  // ---- 8-bit strings and Espruino-specific behaviour ----
  hidden(TypedArray.prototype, "set", function set(source, offset) {
    if (typeof source === "string") {
      var bytes = new Array(source.length);
      for (var i = 0; i < source.length; i++) bytes[i] = source.charCodeAt(i) & 255;
      source = bytes;
    }
    return reflectApply(typedSet, this, [source, offset]);
  });
  hidden(String, "fromCharCode", function fromCharCode_() {
    var codes = new Array(arguments.length);
    for (var i = 0; i < arguments.length; i++) codes[i] = arguments[i] & 255;
    return reflectApply(fromCharCode, String, codes);
  });
  hidden(JSON, "stringify", function stringify_(value, replacer, space) {
    var user = typeof replacer === "function" ? replacer : null;
    var fn = function (key, v) {
      if (isTyped(v)) v = arraySlice.call(v);
      return user ? reflectApply(user, this, [key, v]) : v;
    };
    return reflectApply(stringify, JSON, [value, Array.isArray(replacer) ? replacer : fn, space]);
  });
  var apply = Function.prototype.apply;
  hidden(Function.prototype, "apply", function apply_(thisArg, args) {
    if (args !== undefined && args !== null && args.length > 256) {
      throw new ContextError("Array passed to Function.apply is too big! Maximum 256 arguments, got " + args.length);
    }
    return reflectApply(apply, this, [thisArg, args]);
  });
  hidden(Math, "clip", function clip(x, min, max) { return x < min ? min : x > max ? max : x; });
  hidden(Math, "wrap", function wrap(x, max) { var r = x % max; return r < 0 ? r + max : r; });
  hidden(Math, "randInt", function randInt(max) { return Math.floor(Math.random() * max); });
  // Espruino errors print as "<Type>: <message>" but have no "name" property.
  var errorTypes = { Error: Error, TypeError: TypeError, SyntaxError: SyntaxError, ReferenceError: ReferenceError };
  Object.keys(errorTypes).forEach(function (type) {
    hidden(errorTypes[type].prototype, "toString", function toString() {
      var m = this.message;
      return m === undefined || m === "" ? type : type + ": " + m;
    });
  });

  function InternalError(message) {
    if (!(this instanceof InternalError)) return new InternalError(message);
    this.message = message === undefined ? "" : String(message);
  }
  InternalError.prototype = Object.create(Error.prototype);
  hidden(InternalError.prototype, "constructor", InternalError);
  hidden(InternalError.prototype, "toString", function toString() { return "InternalError: " + this.message; });
  hidden(G, "InternalError", InternalError);

  // ---- Espruino's Promise (src/jswrap_promise.c), in JS ----
  // Resolution and every reaction are queued as events (one turn each) rather than run as
  // microtasks; a rejection with no handler attached when it settles is reported at once as
  // "Unhandled promise rejection: ..."; only OWN "then" properties make a thenable; and, as in
  // 2v29, then()/catch() on an ALREADY FULFILLED promise without an onFulfilled callback passes
  // the value on as a REJECTION (so late .catch(fn) on a settled promise raises an unhandled one).
  var PENDING = 0, FULFILLED = 1, REJECTED = 2;
  var states = new WeakMap();
  var hasOwn = Object.prototype.hasOwnProperty;
  function newBox() {
    var p = Object.create(EPromise.prototype);
    states.set(p, { state: PENDING, value: undefined, thenR: null, catchR: null });
    return { p: p, done: false };
  }
  function queueSettle(box, data, resolving) {
    host.queue(function () { settle(box, data, resolving); });
  }
  function settle(box, data, resolving) {
    if (box.done) return;
    box.done = true;
    var p = box.p;
    if (data === p) throw new ContextError("Illegal resolving to self");
    states.get(p).value = data;
    if (!resolving || typeof data !== "object" || data === null) return seal(p, data, resolving);
    var isProm = data instanceof EPromise;
    var then = hasOwn.call(data, "then") ? data.then : undefined;
    var isThenable = typeof then === "function";
    if (!isThenable && !isProm) return seal(p, data, resolving);
    var follow = { p: p, done: false };
    var res = function (v) { settle(follow, v, true); };
    var rej = function (e) { settle(follow, e, false); };
    if (isThenable) {
      try { reflectApply(then, data, [res, rej]); } catch (e) { rej(e); }
    } else {
      thenImpl(data, res, rej);
    }
  }
  function seal(p, data, resolving) {
    var st = states.get(p);
    st.state = resolving ? FULFILLED : REJECTED;
    var reactions = resolving ? st.thenR : st.catchR;
    if (!reactions) {
      if (!resolving) host.uncaught(new ContextError("Unhandled promise rejection: " + api.describe(data)));
      return;
    }
    for (var i = 0; i < reactions.length; i++) queueReaction(p, reactions[i], data, resolving);
  }
  function queueReaction(p, reaction, data, isThen) {
    host.queue(function () { reactionCall(p, reaction, data, isThen); });
  }
  function reactionCall(p, reaction, data, isThen) {
    var threw = false, ret;
    if (reaction.cb) {
      try { ret = reflectApply(reaction.cb, p, [data]); } catch (e) { threw = true; ret = e; }
    } else {
      if (!isThen) threw = true;
      ret = data;
    }
    settle(reaction.box, ret, !threw);
  }
  function thenImpl(parent, onFulfilled, onRejected) {
    var st = states.get(parent);
    if (!st) throw new TypeError("Not a Promise");
    var box = newBox();
    if (typeof onFulfilled !== "function") onFulfilled = null;
    if (typeof onRejected !== "function") onRejected = null;
    if (st.state === PENDING) {
      (st.thenR = st.thenR || []).push({ cb: onFulfilled, box: box });
      (st.catchR = st.catchR || []).push({ cb: onRejected, box: box });
    } else {
      queueReaction(parent, { cb: st.state === FULFILLED ? onFulfilled : onRejected, box: box }, st.value, false);
    }
    return box.p;
  }
  function EPromise(executor) {
    if (!(this instanceof EPromise)) throw new TypeError("Promise must be called with 'new'");
    if (!executor) throw new ContextError("Function required in promise constructor");
    states.set(this, { state: PENDING, value: undefined, thenR: null, catchR: null });
    var box = { p: this, done: false };
    try {
      reflectApply(executor, this, [
        function (v) { queueSettle(box, v, true); },
        function (e) { queueSettle(box, e, false); }
      ]);
    } catch (e) {
      queueSettle(box, e, false);
    }
  }
  hidden(EPromise.prototype, "then", function then(onFulfilled, onRejected) { return thenImpl(this, onFulfilled, onRejected); });
  hidden(EPromise.prototype, "catch", function catch_(onRejected) { return thenImpl(this, null, onRejected); });
  hidden(EPromise, "resolve", function resolve(data) {
    if (data instanceof EPromise) return data;
    if (typeof data === "object" && data !== null && hasOwn.call(data, "then") && typeof data.then === "function") {
      var t = data.then;
      return new EPromise(function (res, rej) { reflectApply(t, data, [res, rej]); });
    }
    var box = newBox();
    queueSettle(box, data, true);
    return box.p;
  });
  hidden(EPromise, "reject", function reject(data) {
    var box = newBox();
    queueSettle(box, data, false);
    return box.p;
  });
  hidden(EPromise, "all", function all(items) {
    if (!items || typeof items.length !== "number") throw new TypeError("Expecting something iterable, got " + typeof items);
    var box = newBox(), results = [], pending = 0, failed = false;
    for (var i = 0; i < items.length; i++) {
      if (items[i] instanceof EPromise) {
        pending++;
        (function (index) {
          thenImpl(items[i], function (v) {
            if (failed) return;
            results[index] = v;
            if (--pending === 0) queueSettle(box, results, true);
          }, function (e) {
            if (failed) return;
            failed = true;
            queueSettle(box, e, false);
          });
        })(i);
      } else {
        results[i] = items[i];
      }
    }
    if (pending === 0) return EPromise.resolve(results);
    return box.p;
  });
  hidden(G, "Promise", EPromise);

  // Number's EPSILON/MAX_SAFE_INTEGER/MIN_SAFE_INTEGER cannot be deleted (non-configurable), so
  // Number itself is replaced by a function that converts and constructs the same way.
  var NativeNumber = Number;
  function Number_(value) {
    var n = arguments.length ? +value : 0;
    if (!(this instanceof Number_)) return n;
    return Object(n);
  }
  defineProperty(Number_, "prototype", { value: NativeNumber.prototype, writable: false });
  ["MAX_VALUE", "MIN_VALUE", "NEGATIVE_INFINITY", "NaN", "POSITIVE_INFINITY"].forEach(function (k) {
    defineProperty(Number_, k, { value: NativeNumber[k], writable: false, enumerable: false, configurable: false });
  });
  defineProperty(Number_, "name", { value: "Number" });
  hidden(NativeNumber.prototype, "constructor", Number_);
  hidden(G, "Number", Number_);

  // ---- helpers for the host ----
  api.object = function () { return {}; };
  api.array = function (items) { return arraySlice.call(items); };
  api.error = function (message) { return new ContextError(message); };
  api.internalError = function (message) { return new InternalError(message); };
  api.uint8 = function (length) { return new Uint8Array(length); };
  api.arrayBuffer = function (length) { return new ArrayBuffer(length); };
  api.bridge = function (fn, name) {
    var wrapped = function () {
      try {
        return reflectApply(fn, this, arguments);
      } catch (e) {
        if (e instanceof ContextError) throw e;
        throw new ContextError(e && e.message !== undefined ? String(e.message) : String(e));
      }
    };
    defineProperty(wrapped, "name", { value: name });
    return wrapped;
  };
  api.dispatch = dispatch;
  api.listenerCount = function (target, event) { return listenersOf(target, event).length; };
  api.describe = function (value) {
    try {
      if (value instanceof ContextError || (isObjectLike(value) && typeof value.message === "string")) return String(value);
      if (typeof value === "string") return value;
      return String(value);
    } catch (e) {
      return "<unprintable>";
    }
  };
  api.evalGlobal = function (code) { return (0, eval)(code); };

  function prune(obj, keep) {
    if (!isObjectLike(obj)) return;
    var names = getOwnPropertyNames(obj);
    for (var i = 0; i < names.length; i++) {
      var n = names[i];
      if (keep.indexOf(n) < 0 && STRUCTURAL.indexOf(n) < 0) {
        try { delete obj[n]; } catch (e) { /* non-configurable: leave it */ }
      }
    }
  }
  var STRUCTURAL = __STRUCTURAL__;
  var BUILTINS = __BUILTINS__;
  var KEPT = __KEPT__;
  api.prune = function (hostGlobals) {
    var typedCtors = [Uint8Array, Uint8ClampedArray, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array];
    for (var name in BUILTINS) {
      var target = name === "TypedArray" ? TypedArray : G[name];
      prune(target, BUILTINS[name].statics);
      if (BUILTINS[name].proto) prune(target.prototype, BUILTINS[name].proto);
    }
    for (var t = 0; t < typedCtors.length; t++) { prune(typedCtors[t], []); prune(typedCtors[t].prototype, []); }
    Object.keys(errorTypes).forEach(function (type) { delete errorTypes[type].prototype.name; });
    var keep = KEPT.concat(hostGlobals, ["InternalError"]);
    var names = getOwnPropertyNames(G);
    for (var i = 0; i < names.length; i++) {
      if (keep.indexOf(names[i]) < 0) { try { delete G[names[i]]; } catch (e) { /* leave */ } }
    }
  };
  return api;
})
`;

export function buildPreludeSource(): string {
  return preludeSource
    .replace("__STRUCTURAL__", JSON.stringify(STRUCTURAL_MEMBERS))
    .replace("__BUILTINS__", JSON.stringify(BUILTIN_API))
    .replace("__KEPT__", JSON.stringify(KEPT_GLOBALS));
}
