function step2_rmtree(folder)
%STEP2_RMTREE Remove a test's temporary folder and everything in it.
if exist(folder, 'dir') ~= 7
    return
end
if exist('OCTAVE_VERSION', 'builtin')
    old = confirm_recursive_rmdir(false);
    rmdir(folder, 's');
    confirm_recursive_rmdir(old);
else
    rmdir(folder, 's');
end
end
