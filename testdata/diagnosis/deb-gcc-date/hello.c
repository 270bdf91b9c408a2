#include <stdio.h>

int main(void) {
    printf("hello, built %s %s\n", __DATE__, __TIME__);
    return 0;
}
