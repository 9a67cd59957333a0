// Symbol visibility for the shared client library.
#pragma once

#if defined(_WIN32)
#  if defined(DLLBRIDGE_BUILDING)
#    define DLLBRIDGE_API __declspec(dllexport)
#  elif defined(DLLBRIDGE_STATIC)
#    define DLLBRIDGE_API
#  else
#    define DLLBRIDGE_API __declspec(dllimport)
#  endif
#else
#  define DLLBRIDGE_API __attribute__((visibility("default")))
#endif
