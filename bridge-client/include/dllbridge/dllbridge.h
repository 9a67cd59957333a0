/* dllbridge C API: call functions of a 32-bit library from a 64-bit program
 * in any language with a C FFI (docs/c-api.md). C99 and C++; no exception
 * crosses it: every fallible function returns a status.
 *
 *   dllbridge_bridge* b;  dllbridge_library* lib;  dllbridge_function* add;
 *   char* result;
 *   if (dllbridge_open(NULL, &b) != DLLBRIDGE_OK) { puts(dllbridge_last_error_message()); return 1; }
 *   dllbridge_load(b, "./libsample.so", &lib);
 *   dllbridge_declare(lib, "int32_t add(int32_t a, int32_t b);", &add);
 *   dllbridge_call_json(add, "[2, 40]", &result);   // {...,"last_error":0,"out":{},"return":42}
 *   dllbridge_free(result);
 *   dllbridge_close(b);
 *
 * Handles are safe to use from several threads at once. A library or function
 * handle lives as long as its bridge: dllbridge_close frees them all. */
#ifndef DLLBRIDGE_DLLBRIDGE_H
#define DLLBRIDGE_DLLBRIDGE_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#  if defined(DLLBRIDGE_BUILDING)
#    define DLLBRIDGE_C_API __declspec(dllexport)
#  elif defined(DLLBRIDGE_STATIC)
#    define DLLBRIDGE_C_API
#  else
#    define DLLBRIDGE_C_API __declspec(dllimport)
#  endif
#else
#  define DLLBRIDGE_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dllbridge_bridge dllbridge_bridge;
typedef struct dllbridge_library dllbridge_library;
typedef struct dllbridge_function dllbridge_function;

/* 0 = ok; otherwise one code per error kind (docs/errors.md). */
typedef int dllbridge_status;
enum {
  DLLBRIDGE_OK = 0,
  DLLBRIDGE_TIMEOUT = 1,                /* "timeout" */
  DLLBRIDGE_CRASHED = 2,                /* "crashed" */
  DLLBRIDGE_CIRCUIT_OPEN = 3,           /* "circuit_open" */
  DLLBRIDGE_BAD_SIGNATURE = 4,          /* "bad_signature" */
  DLLBRIDGE_BAD_ARGUMENT = 5,           /* "bad_argument": also a null handle or out-pointer, bad JSON */
  DLLBRIDGE_SYMBOL_NOT_FOUND = 6,       /* "symbol_not_found" */
  DLLBRIDGE_LIBRARY_LOAD_FAILED = 7,    /* "library_load_failed" */
  DLLBRIDGE_SURROGATE_START_FAILED = 8, /* "surrogate_start_failed" */
  DLLBRIDGE_PROTOCOL = 9,               /* "protocol" */
  DLLBRIDGE_UNAUTHORIZED = 10,          /* "unauthorized" */
  DLLBRIDGE_CALLBACK_FAILED = 11,       /* "callback_failed" */
  DLLBRIDGE_INTERNAL = 12               /* "internal": out of memory, or a bug (the message says which) */
};

/* Starts (or connects to) a surrogate. options_json: NULL for the defaults,
 * or an object with any of {"arch": 32|64, "call_timeout_ms": N,
 * "surrogate_path": "...", "connect": "...", "token_file": "...",
 * "low_latency": bool, "fork_server": bool, "pool_size": 1..64, "shared_region": bool,
 * "shared_frames": bool, "region_budget": bytes, "surrogate_log_level": "warn"} (BridgeOptions' fields of the
 * same names); an unknown key or a wrong type is bad_argument. *out is set only on success. */
DLLBRIDGE_C_API dllbridge_status dllbridge_open(const char* options_json, dllbridge_bridge** out);

/* Loads a library (UTF-8 path) in the surrogate; again in every new one. */
DLLBRIDGE_C_API dllbridge_status dllbridge_load(dllbridge_bridge* b, const char* path_utf8,
                                                dllbridge_library** out);

/* Declares a function by a signature (docs/signature-language.md). */
DLLBRIDGE_C_API dllbridge_status dllbridge_declare(dllbridge_library* lib, const char* signature,
                                                   dllbridge_function** out);

/* As dllbridge_declare, with options_json NULL or an object with any of
 * {"idempotent": bool, "timeout_ms": N, "symbol": "decorated name or #ordinal"}. */
DLLBRIDGE_C_API dllbridge_status dllbridge_declare_ex(dllbridge_library* lib, const char* signature,
                                                      const char* options_json, dllbridge_function** out);

/* Calls f. args_json: a JSON array, one value per parameter that is not
 * [out], as dllbridge-call takes them (docs/cli.md, section 3); NULL for
 * none. A function pointer takes null or a recording stub
 * {"callback": {"returns": V}} as in dllbridge-call (the answer then lists
 * its invocations under "callbacks"; stubs of [persistent] parameters live
 * until dllbridge_close). *result_json (free with dllbridge_free): exactly
 * the line `dllbridge-call --json` prints, without its newline, for success
 * ({"return":..., "out":{...}, "last_error":N, ...}) and for errors
 * ({"error":{"kind":..., "message":...}}); it is set whenever result_json is
 * not NULL, whatever the status (NULL only if memory ran out). */
DLLBRIDGE_C_API dllbridge_status dllbridge_call_json(dllbridge_function* f, const char* args_json,
                                                     char** result_json);

/* As dllbridge_call_json with this call's deadline: timeout_ms from 1 to 7
 * days, or DLLBRIDGE_DEFAULT_TIMEOUT for the function's own. */
#define DLLBRIDGE_DEFAULT_TIMEOUT (-1)
DLLBRIDGE_C_API dllbridge_status dllbridge_call_json_timeout(dllbridge_function* f, const char* args_json,
                                                             int64_t timeout_ms, char** result_json);

/* The typed value interface: calls without JSON, for scalar signatures
 * (every parameter and the return a scalar or a handle). */
typedef enum dllbridge_kind {
  DLLBRIDGE_VALUE_NULL = 0, /* void return; a null handle */
  DLLBRIDGE_VALUE_INT = 1,  /* signed integers, char, bool */
  DLLBRIDGE_VALUE_UINT = 2, /* unsigned integers, handles */
  DLLBRIDGE_VALUE_DOUBLE = 3
} dllbridge_kind;
typedef struct dllbridge_value {
  dllbridge_kind kind;
  union {
    int64_t i;
    uint64_t u;
    double d;
  } as;
} dllbridge_value;

/* Calls f with nargs scalar arguments; *ret (when not NULL) gets the return
 * value (kind NULL for void, INT for signed integers and bool, UINT for
 * unsigned ones and handles, DOUBLE for float and double) and *last_error
 * (when not NULL) the DLL's errno / GetLastError after the call. A variadic f
 * is bad_argument. A parameter that is not a scalar or a handle
 * is bad_argument: use dllbridge_call_json. timeout_ms as in
 * dllbridge_call_json_timeout. */
DLLBRIDGE_C_API dllbridge_status dllbridge_call_values(dllbridge_function* f, const dllbridge_value* args,
                                                       size_t nargs, int64_t timeout_ms, dllbridge_value* ret,
                                                       int64_t* last_error);

/* The bridge's statistics as the "stats" object of `dllbridge-call --stats --json`. */
DLLBRIDGE_C_API dllbridge_status dllbridge_stats_json(dllbridge_bridge* b, char** stats_json);

/* Replaces the surrogate now (also after a crash-loop stop). */
DLLBRIDGE_C_API dllbridge_status dllbridge_restart(dllbridge_bridge* b);

/* The contract spelling of a status: "ok", "timeout", "crashed", ...;
 * "unknown" for a code that is none of them. Never NULL, static storage. */
DLLBRIDGE_C_API const char* dllbridge_status_name(dllbridge_status s);

/* The message of the calling thread's last failed call ("" if none failed on
 * it); a successful call leaves it. Valid until that thread's next failed
 * call into this API. */
DLLBRIDGE_C_API const char* dllbridge_last_error_message(void);

/* Frees a string this API returned; NULL is ignored. */
DLLBRIDGE_C_API void dllbridge_free(char* s);

/* Stops the surrogate as dllbridge::Bridge's destructor does and frees the
 * bridge with its libraries and functions. NULL is ignored. No call may be
 * in progress on it, nor start after it. */
DLLBRIDGE_C_API void dllbridge_close(dllbridge_bridge* b);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DLLBRIDGE_DLLBRIDGE_H */
