/* Loads only where hidden_dep.dll can be found (it is not, on purpose). */
__declspec(dllimport) int hidden_value(void);
__declspec(dllexport) int needs_dep_value(void) { return hidden_value() + 1; }
