from greeter import greet


def main():
    print(greet("world"))
