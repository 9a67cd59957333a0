module dllbridge

go 1.19
