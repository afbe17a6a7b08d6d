/*
 * An independent reference for hostbench's memory.stream: the four STREAM
 * kernels in C with OpenMP, compiled with -O3, with STREAM's byte counting
 * (copy and scale 16 B per element, add and triad 24 B) and its reporting
 * (the best of NTIMES passes). Not McCalpin's stream.c, which is not
 * vendored here; the same method, so the two figures are comparable.
 *
 *   gcc -O3 -march=native -fopenmp stream.c -o stream && ./stream [MiB per array] [passes]
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
	long mib = argc > 1 ? atol(argv[1]) : 64;
	int passes = argc > 2 ? atoi(argv[2]) : 20;
	long n = mib * 1024 * 1024 / sizeof(double);
	double *a = malloc(n * sizeof(double)), *b = malloc(n * sizeof(double)), *c = malloc(n * sizeof(double));
	if (!a || !b || !c) {
		fprintf(stderr, "out of memory\n");
		return 1;
	}
	const double s = 3.0;
#pragma omp parallel for
	for (long i = 0; i < n; i++) { /* first touch by the thread that uses the page */
		a[i] = 1.0;
		b[i] = 2.0;
		c[i] = 0.0;
	}
	const char *names[4] = {"copy", "scale", "add", "triad"};
	const double bytes[4] = {16, 16, 24, 24};
	double best[4] = {1e30, 1e30, 1e30, 1e30};
	for (int p = 0; p < passes; p++) {
		double t;
		t = now();
#pragma omp parallel for
		for (long i = 0; i < n; i++) c[i] = a[i];
		t = now() - t; if (t < best[0]) best[0] = t;
		t = now();
#pragma omp parallel for
		for (long i = 0; i < n; i++) b[i] = s * c[i];
		t = now() - t; if (t < best[1]) best[1] = t;
		t = now();
#pragma omp parallel for
		for (long i = 0; i < n; i++) c[i] = a[i] + b[i];
		t = now() - t; if (t < best[2]) best[2] = t;
		t = now();
#pragma omp parallel for
		for (long i = 0; i < n; i++) a[i] = b[i] + s * c[i];
		t = now() - t; if (t < best[3]) best[3] = t;
	}
	printf("threads %d, %ld MiB per array, best of %d passes\n", omp_get_max_threads(), mib, passes);
	for (int k = 0; k < 4; k++) printf("%-6s %.3e By/s\n", names[k], bytes[k] * n / best[k]);
	/* keep the results live */
	double sum = 0;
	for (long i = 0; i < n; i += 4096) sum += a[i];
	fprintf(stderr, "checksum %g\n", sum);
	return 0;
}
