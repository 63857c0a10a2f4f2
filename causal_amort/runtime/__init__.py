"""How a process uses its machine: the thread count it may use and the device it runs on."""
