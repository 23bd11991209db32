module example.com/coverage-app

go 1.22
