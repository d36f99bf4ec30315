// Placeholder entry point; replaced by the real CLI.
#include <cstdio>
int main() { std::puts("spsim"); return 0; }
