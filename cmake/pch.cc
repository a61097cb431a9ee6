// The translation unit that builds the shared precompiled headers (SEXTANT_PCH in
// CMakeLists.txt); it has no code of its own.
