function test_step2_find_spike_peaks()
%TEST_STEP2_FIND_SPIKE_PEAKS Threshold, local maxima, margins and the 100-sample gap rule.
p = deepsif_params();
% Case 1: T = 1000, triangular peaks (9 10 9) at (time, channel):
%   (100,3) dropped: 100 - 249 <= 0 (margin)
%   (250,1) kept:    250 - 249 = 1 > 0, 150 after the previous peak
%   (300,2) dropped: 50 after (250,1)
%   (351,3) dropped: 51 after (300,2) (the gap counts dropped peaks too)
%   (452,2) kept:    101 after (351,3)
%   (552,3) dropped: exactly 100 after (452,2) (needs > 100)
%   (749,1) kept:    749 + 250 = 999 < 1000
%   (900,2) dropped: 900 + 250 >= 1000 (margin)
% and a sub-threshold bump (7 7.9 7) at (620,1), zeroed, never a peak.
x = zeros(1000, 3);
peaks = [100 3; 250 1; 300 2; 351 3; 452 2; 552 3; 749 1; 900 2];
for k = 1:size(peaks, 1)
    x(peaks(k, 1) + (-1:1), peaks(k, 2)) = [9; 10; 9];
end
x(619:621, 1) = [7; 7.9; 7];
[t, c] = find_spike_peaks(x, p);
assert(isequal(t, [250 452 749]));
assert(isequal(c, [1 2 1]));

% Case 2: two channels peak at the same time: sorted by channel, the
% second is 0 samples after the first and dropped.
x = zeros(1000, 2);
x(399:401, 1) = [9; 10; 9];
x(399:401, 2) = [9; 11; 9];
[t, c] = find_spike_peaks(x, p);
assert(isequal(t, 400) && isequal(c, 1));

% Case 3: values of exactly 8 mV are kept (only below 8 is zeroed); a
% peak at 750 with T = 1000 fails t + 250 < T.
x = zeros(1000, 1);
x(299:301) = [9; 10; 9];
x(499:501) = [7.5; 8; 7.5];
x(749:751) = [9; 10; 9];
[t, c] = find_spike_peaks(x, p);
assert(isequal(t, [300 500]) && isequal(c, [1 1]));

% Case 4: a flat-topped spike (9 10 10 9 at 399..402) peaks at 400.
x = zeros(1000, 1);
x(399:402) = [9; 10; 10; 9];
assert(isequal(find_spike_peaks(x, p), 400));

% Case 5: no peak at all: 1 x 0 rows
[t, c] = find_spike_peaks(zeros(1000, 2), p);
assert(isequal(size(t), [1 0]) && isequal(size(c), [1 0]));
end
