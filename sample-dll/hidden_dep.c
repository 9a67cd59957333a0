/* A dependency of needs_dep.c, kept out of the loader's search path. */
__declspec(dllexport) int hidden_value(void) { return 7; }
