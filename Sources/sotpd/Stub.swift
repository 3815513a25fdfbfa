print("sotpd")
