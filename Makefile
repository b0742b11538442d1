# Convenience targets; the scripts in scripts/ are the real entry points.
.PHONY: run check build asan fuzz format clean
run:
	bash scripts/quickstart.sh
check:
	bash scripts/check.sh
build:
	bash scripts/build.sh release
asan:
	bash scripts/build.sh asan
fuzz:
	bash scripts/fuzz.sh
format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tests/*.h')
clean:
	rm -rf build build-asan build-fuzz
