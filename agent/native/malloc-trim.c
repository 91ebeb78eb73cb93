/*
 * mallocTrim(): glibc's malloc_trim(0) for the agent (agent/malloc-trim.ts says why).
 *
 * A Node-API addon written without Node's headers: Node-API is a stable C ABI, and the four
 * functions below are declared as node_api.h declares them, so building needs only a C compiler,
 * not node-gyp or a download of headers (agent/cli/build-bundle.ts builds it at `npm ci`).
 * Where the C library is not glibc (musl has no malloc_trim), mallocTrim() does nothing and
 * returns false.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status; /* an enum in node_api.h: int-sized; 0 is napi_ok */
typedef napi_value (*napi_callback)(napi_env env, napi_callback_info info);

extern napi_status napi_create_function(napi_env env, const char *utf8name, size_t length, napi_callback cb, void *data, napi_value *result);
extern napi_status napi_set_named_property(napi_env env, napi_value object, const char *utf8name, napi_value value);
extern napi_status napi_get_boolean(napi_env env, bool value, napi_value *result);

/* Returns true when malloc gave memory back to the system. */
static napi_value malloc_trim_js(napi_env env, napi_callback_info info) {
  (void)info;
  bool released = false;
#ifdef __GLIBC__
  released = malloc_trim(0) == 1;
#endif
  napi_value result = NULL;
  if (napi_get_boolean(env, released, &result) != 0) return NULL;
  return result;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn = NULL;
  if (napi_create_function(env, "mallocTrim", SIZE_MAX, malloc_trim_js, NULL, &fn) != 0) return NULL;
  if (napi_set_named_property(env, exports, "mallocTrim", fn) != 0) return NULL;
  return exports;
}
