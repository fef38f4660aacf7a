function folder = step2_tmpdir()
%STEP2_TMPDIR A new, empty temporary folder for one test (under tempname()).
folder = tempname();
[ok, msg] = mkdir(folder);
if ~ok
    error('step2_tmpdir:mkdir', 'could not create %s: %s', folder, msg);
end
end
