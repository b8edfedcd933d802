def importance_performance(*a, **k): raise NotImplementedError
