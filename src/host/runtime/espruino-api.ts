// What Espruino 2v29 offers on an ESP32 build, per built-in, as extracted from the /*JSON{...}*/
// wrapper declarations in espruino/Espruino src/jswrap_*.c (commit c5ff787b), keeping entries
// that are compiled in for ESP32 (it does not define SAVE_ON_FLASH or ESPR_EMBED).
// The runtime deletes every other string-keyed member V8 has, so code that uses
// e.g. Array.prototype.lastIndexOf or Number.isInteger fails in simulation as it would on the board.
// Symbol-keyed members stay: V8 needs them internally (for-of over arrays, String#split with a RegExp).

export interface BuiltinApi {
  /** Own members of the constructor / namespace object. */
  statics: string[];
  /** Own members of the prototype (absent for namespaces such as Math). */
  proto?: string[];
}

/** Global bindings kept from V8's intrinsics. Host-provided globals are added separately. */
export const KEPT_GLOBALS = [
  "Object", "Function", "Array", "ArrayBuffer", "DataView", "String", "Number", "Boolean", "Math", "JSON",
  "Date", "RegExp", "Error", "TypeError", "SyntaxError", "ReferenceError", "Promise",
  "Uint8Array", "Uint8ClampedArray", "Int8Array", "Uint16Array", "Int16Array", "Uint32Array", "Int32Array",
  "Float32Array", "Float64Array",
  "NaN", "Infinity", "undefined", "globalThis",
  "eval", "parseInt", "parseFloat", "isFinite", "isNaN", "encodeURIComponent", "decodeURIComponent",
];

/** Always kept on every constructor / prototype: language plumbing rather than library. */
export const STRUCTURAL_MEMBERS = ["constructor", "prototype", "length", "name", "__proto__", "arguments", "caller"];

const ERROR_API: BuiltinApi = { statics: ["stackTraceLimit"], proto: ["toString", "message"] };

export const BUILTIN_API: Record<string, BuiltinApi> = {
  Object: {
    statics: [
      "assign", "create", "defineProperties", "defineProperty", "entries", "fromEntries", "getOwnPropertyDescriptor",
      "getOwnPropertyDescriptors", "getOwnPropertyNames", "getPrototypeOf", "keys", "setPrototypeOf", "values",
    ],
    proto: [
      "hasOwnProperty", "toString", "valueOf", "clone",
      "on", "addListener", "prependListener", "emit", "removeListener", "removeAllListeners",
    ],
  },
  Function: { statics: [], proto: ["apply", "bind", "call", "toString", "replaceWith"] },
  Array: {
    statics: ["isArray"],
    proto: [
      "concat", "every", "fill", "filter", "find", "findIndex", "forEach", "includes", "indexOf", "join", "map", "pop",
      "push", "reduce", "reverse", "shift", "slice", "some", "sort", "splice", "toString", "unshift",
    ],
  },
  ArrayBuffer: { statics: [], proto: ["byteLength"] },
  // %TypedArray% (Espruino's ArrayBufferView); the concrete constructors get STRUCTURAL_MEMBERS only.
  TypedArray: {
    statics: [],
    proto: [
      "every", "fill", "filter", "find", "findIndex", "forEach", "includes", "indexOf", "join", "map", "reduce",
      "reverse", "set", "slice", "some", "sort", "subarray", "buffer", "byteLength", "byteOffset", "toString",
    ],
  },
  DataView: {
    statics: [],
    proto: [
      "getFloat32", "getFloat64", "getInt16", "getInt32", "getInt8", "getUint16", "getUint32", "getUint8",
      "setFloat32", "setFloat64", "setInt16", "setInt32", "setInt8", "setUint16", "setUint32", "setUint8",
    ],
  },
  String: {
    statics: ["fromCharCode"],
    proto: [
      "charAt", "charCodeAt", "concat", "endsWith", "includes", "indexOf", "lastIndexOf", "match", "padEnd", "padStart",
      "removeAccents", "repeat", "replace", "replaceAll", "slice", "split", "startsWith", "substr", "substring",
      "toLowerCase", "toUpperCase", "trim", "toString", "valueOf",
    ],
  },
  Number: {
    statics: ["MAX_VALUE", "MIN_VALUE", "NEGATIVE_INFINITY", "NaN", "POSITIVE_INFINITY"],
    proto: ["toFixed", "toString", "valueOf"],
  },
  Boolean: { statics: [], proto: ["toString", "valueOf"] },
  Math: {
    statics: [
      "abs", "acos", "asin", "atan", "atan2", "ceil", "clip", "cos", "exp", "floor", "log", "max", "min", "pow", "randInt",
      "random", "round", "sign", "sin", "sqrt", "tan", "wrap",
      "E", "LN10", "LN2", "LOG10E", "LOG2E", "PI", "SQRT1_2", "SQRT2",
    ],
  },
  JSON: { statics: ["parse", "stringify"] },
  Date: {
    statics: ["now", "parse"],
    proto: [
      "getDate", "getDay", "getFullYear", "getHours", "getIsDST", "getMilliseconds", "getMinutes", "getMonth",
      "getSeconds", "getTime", "getTimezoneOffset", "getUTCDate", "getUTCDay", "getUTCFullYear", "getUTCHours",
      "getUTCMilliseconds", "getUTCMinutes", "getUTCMonth", "getUTCSeconds", "setDate", "setFullYear", "setHours",
      "setMilliseconds", "setMinutes", "setMonth", "setSeconds", "setTime", "toISOString", "toJSON",
      "toLocalISOString", "toString", "toUTCString", "valueOf",
    ],
  },
  // The accessors (flags, global, source, ...) stay because V8's own split/replace read them.
  RegExp: {
    statics: [],
    proto: ["exec", "test", "toString", "flags", "global", "ignoreCase", "multiline", "source", "sticky", "unicode", "dotAll", "hasIndices", "unicodeSets"],
  },
  Promise: { statics: ["all", "reject", "resolve"], proto: ["then", "catch"] },
  // Espruino errors have no `name` (e.name is undefined), so it is not listed.
  Error: ERROR_API,
  TypeError: ERROR_API,
  SyntaxError: ERROR_API,
  ReferenceError: ERROR_API,
};
