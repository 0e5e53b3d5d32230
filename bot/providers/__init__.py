"""Provider clients (RunComfy model API) and the types they answer with."""
