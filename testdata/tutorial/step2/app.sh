#!/bin/sh
# The tutorial's "application": prints when it was built and which docs it ships.
cat /app/build-info.txt
tar -tf /app/docs.tar
